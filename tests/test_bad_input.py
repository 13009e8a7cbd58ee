"""Bad input raises ValueError or TypeError whose message names the problem and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from handprop import Network

METHODS = ["cost", "backprop", "gradients", "per_example_gradients"]


@pytest.fixture
def net():
    return Network([4, 3, 2], hidden="sigmoid", output="softmax", cost="cross_entropy", seed=0)


def good_batch(n=3):
    return np.random.default_rng(0).random((n, 4)), np.array([0, 1, 1][:n])


def call(net, method, X, Y):
    result = getattr(net, method)(X, Y)
    return result


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "make_X,error,match",
    [
        (lambda X: X[:, :3], ValueError, r"X has 3 columns but the network's input layer has 4 units: expected shape \(n, 4\)"),
        (lambda X: X[0], ValueError, r"X must be 2-D with shape \(n, 4\).*reshape\(1, -1\)"),
        (lambda X: np.where(np.arange(4) == 2, np.nan, X), ValueError, r"X contains 3 NaN or infinite values; expected finite"),
        (lambda X: np.where(np.arange(4) == 0, np.inf, X), ValueError, r"NaN or infinite"),
        (lambda X: X.astype(str), TypeError, r"X must be a numeric array of shape \(n, 4\)"),
        (lambda X: X + 1j, TypeError, r"X must be a real numeric array.*complex"),
    ],
    ids=["wrong-width", "1-D", "NaN", "inf", "strings", "complex"],
)
def test_bad_inputs(net, method, make_X, error, match):
    X, y = good_batch()
    with pytest.raises(error, match=match):
        call(net, method, make_X(X), y)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "Y,error,match",
    [
        (np.zeros((3, 3)), ValueError, r"Y has shape \(3, 3\); expected one-hot rows of shape \(3, 2\) or integer labels of shape \(3,\)"),
        (np.zeros((2, 2)), ValueError, r"expected one-hot rows of shape \(3, 2\)"),
        (np.array([0, 1]), ValueError, r"Y has 2 labels but X has 3 examples; expected shape \(3,\)"),
        (np.array([0, 2, 1]), ValueError, r"labels out of range \(e\.g\. 2\); expected integers in \[0, 1\]"),
        (np.array([0, -1, 1]), ValueError, r"labels out of range \(e\.g\. -1\)"),
        (np.array([0.0, 0.5, 1.0]), TypeError, r"1-D Y must hold integer class labels in \[0, 2\)"),
        (np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 0.0]]), ValueError, r"Y contains 1 NaN or infinite values; expected finite"),
        (np.array([[0.0, 2.0], [0.0, 1.0], [1.0, 0.0]]), ValueError, r"cross-entropy targets must lie in \[0, 1\]"),
    ],
    ids=["width", "rows", "count", "label-high", "label-negative", "float-labels", "NaN", "not-probabilities"],
)
def test_bad_targets(net, method, Y, error, match):
    X, _ = good_batch()
    with pytest.raises(error, match=match):
        call(net, method, X, Y)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(hidden="swish"), ValueError, r"unknown hidden activation 'swish'; expected one of: sigmoid, tanh, relu, identity"),
        (dict(hidden="softmax"), ValueError, r"unknown hidden activation 'softmax' \(softmax is only for the output layer\)"),
        (dict(output="softplus"), ValueError, r"unknown output activation 'softplus'; expected one of: .*softmax"),
        (dict(cost="hinge"), ValueError, r"unknown cost 'hinge'; expected one of: quadratic, cross_entropy"),
        (dict(output="identity", cost="cross_entropy"), ValueError, r"cost 'cross_entropy' needs an output activation producing probabilities \(softmax or sigmoid\)"),
        (dict(hidden=["relu"]), ValueError, r"hidden lists 1 activations but the network has 2 hidden layers"),
        (dict(hidden=3), TypeError, r"hidden must be an activation name or a list of names"),
        (dict(cost=None), TypeError, r"cost must be given by name \(a str\), got NoneType"),
        (dict(cost=3), TypeError, r"cost must be given by name \(a str\), got int"),
        (dict(output=3), TypeError, r"activation must be given by name \(a str\), got int"),
        (dict(init="uniform"), ValueError, r"unknown init 'uniform'; expected one of: normal, xavier, he"),
        (dict(dtype="float16"), ValueError, r"unsupported dtype 'float16'; expected one of: float32, float64"),
        (dict(seed=1.5), TypeError, r"seed must be an int or a numpy.random.Generator"),
    ],
)
def test_bad_configuration(kwargs, error, match):
    with pytest.raises(error, match=match):
        Network([4, 3, 3, 2], **kwargs)


def test_hidden_name_checked_without_hidden_layers():
    with pytest.raises(ValueError, match=r"unknown hidden activation 'swish'"):
        Network([4, 2], hidden="swish")


@pytest.mark.parametrize(
    "sizes,match",
    [([4], r"at least an input and an output layer"), ([4, 0, 2], r"every layer width must be a positive integer"), ([4, 2.5, 2], r"positive integer")],
)
def test_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        Network(sizes)


def test_empty_batch(net):
    with pytest.raises(ValueError, match=r"X is an empty batch \(shape \(0, 4\)\); expected at least one example"):
        net.gradients(np.zeros((0, 4)), np.zeros(0, dtype=int))


def test_bad_parameters(net):
    with pytest.raises(ValueError, match=r"layer 1: expected weights \(3, 4\) and biases \(3,\), got \(4, 3\)"):
        net.set_parameters([np.zeros((4, 3)), np.zeros((2, 3))], [np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match=r"layer 2: parameters contain NaN or infinite values"):
        net.set_parameters([np.zeros((3, 4)), np.full((2, 3), np.nan)], [np.zeros(3), np.zeros(2)])


def test_complex_targets(net):
    X, y = good_batch()
    with pytest.raises(TypeError, match=r"Y must be a real numeric array, got complex dtype complex128"):
        net.cost(X, np.eye(2)[y] + 0j)


def test_input_too_large_for_float32():
    net = Network([2, 2], dtype="float32")
    with pytest.raises(ValueError, match=r"X has values up to 1e\+300, beyond the range of float32"):
        net.cost(np.array([[1e300, 0.0]]), [0])


def test_from_parameters_names_a_weight_that_is_not_a_matrix():
    with pytest.raises(ValueError, match=r"weights\[0\] must be a 2-D array shaped \(out, in\), got shape \(3,\)"):
        Network.from_parameters([np.zeros(3)], [np.zeros(3)])


def test_a_checkpoint_missing_part_of_its_config_names_what_is_missing(tmp_path):
    import json

    from handprop.checkpoint import FORMAT, load_checkpoint

    net = Network([4, 3, 2], seed=0)
    config = net.config()
    del config["hidden"]
    path = tmp_path / "partial.npz"
    arrays = {f"W{i}": W for i, W in enumerate(net.weights)} | {f"b{i}": b for i, b in enumerate(net.biases)}
    np.savez(path, format=np.array(FORMAT), config=np.array(json.dumps(config)), meta=np.array("{}"), **arrays)
    with pytest.raises(ValueError, match="partial.npz is not a handprop checkpoint: config has no 'hidden'"):
        load_checkpoint(path)

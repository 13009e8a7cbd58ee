"""Edge cases: ReLU's kink at exactly 0, saturating pre-activations of ±1000, softmax logits of 1e4.

pytest runs with ``filterwarnings = error``: any overflow, divide-by-zero or invalid-value warning
from NumPy fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from handprop import Network
from handprop.activations import HIDDEN_ACTIVATIONS
from verify.compare import assert_twin_agrees
from verify.model import TwinNetwork, twin_gradients
from verify.compare import OUTPUT_COSTS



def all_arrays(g):
    return g.nabla_w + g.nabla_b + g.delta + g.nabla_a


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_at_exactly_zero_follows_torch(dtype):
    W1 = [[1.0, -1.0], [0.0, 0.0], [2.0, 1.0]]  # (3, 2)
    b1 = [0.0, 0.0, -3.0]
    W2, b2 = [[1.0, -2.0, 0.5], [0.5, 1.0, -1.0]], [0.1, -0.2]
    net = Network.from_parameters([W1, W2], [b1, b2], hidden="relu", output="identity", cost="quadratic", dtype=dtype)
    X = np.array([[1.0, 1.0], [0.5, 2.0], [2.0, 1.0]])
    y = np.array([0, 1, 1])
    z1 = net.feedforward(X).zs[0]
    at_kink = z1 == 0
    assert at_kink.sum() == 6  # constructed: six pre-activations are exactly 0
    h = net.gradients(X, y)
    t = twin_gradients(TwinNetwork.from_network(net), X, y, net)
    # torch's relu passes no gradient at z = 0 (ReLU'(0) = 0); so must the engine, exactly
    assert np.all(h.delta[0][at_kink] == 0) and np.all(t.delta[0][at_kink] == 0)
    assert np.any(h.nabla_a[1][at_kink] != 0)  # the incoming gradient was not already 0 there
    assert_twin_agrees(net, X, y)


def saturating_network(hidden, output, cost, dtype):
    """Hidden pre-activations in {−1000, 0, 1000}, output pre-activations of order ±1000."""
    W1 = np.array([[1000.0, 0.0], [-1000.0, 0.0], [0.0, 1000.0]])  # (3, 2)
    pattern = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 0.0], [1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])  # (4, 3)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    probe = Network.from_parameters([W1, pattern], [np.zeros(3), np.zeros(4)], hidden, output, cost, dtype)
    a1 = np.abs(probe.feedforward(X).activations[1]).max()
    W2 = pattern * (1000.0 / a1)  # so |z^2| reaches 1000 whatever the hidden activation
    net = Network.from_parameters([W1, W2], [np.zeros(3), np.zeros(4)], hidden, output, cost, dtype)
    return net, X, np.array([0, 1, 2, 3])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_pre_activations_of_1000_stay_finite(output, cost, hidden, dtype):
    net, X, y = saturating_network(hidden, output, cost, dtype)
    fp = net.feedforward(X)
    assert np.abs(fp.zs[0]).max() == 1000 and np.abs(fp.zs[1]).max() >= 1000
    g = net.gradients(X, y)
    per = net.per_example_gradients(X, y)
    assert np.isfinite(g.cost)
    for a in all_arrays(g) + all_arrays(per) + [per.cost]:
        assert np.isfinite(a).all() and a.dtype == np.dtype(dtype)
    assert_twin_agrees(net, X, y)  # saturated ∂C/∂a^L entries are skipped and reported


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_softmax_logits_of_1e4(cost, dtype):
    W = [[1e4, 0.0], [0.0, 1e4], [-1e4, 0.0]]  # (3, 2): one layer, logits up to ±1e4
    net = Network.from_parameters([W], [np.zeros(3)], hidden=[], output="softmax", cost=cost, dtype=dtype)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 0, 2])  # the last two are confidently wrong
    a = net.forward(X)
    np.testing.assert_allclose(a.sum(axis=1), 1, rtol=10 * np.finfo(dtype).eps)
    assert net.predict(X).tolist() == [0, 1, 0]
    c = net.cost(X, y)
    if cost == "cross_entropy":
        # −log softmax(z)_y per row: 0, 1e4, 2e4 + log 2 (no log(0) = inf)
        np.testing.assert_allclose(c, (0 + 1e4 + 2e4 + np.log(2)) / 3, rtol=1e-7)
    g = net.gradients(X, y)
    for arr in all_arrays(g):
        assert np.isfinite(arr).all()
    assert_twin_agrees(net, X, y)


@pytest.mark.parametrize("labels", [True, False])
def test_inputs_are_never_modified(labels):
    net = Network([4, 3, 2], hidden="relu", output="softmax", cost="cross_entropy", seed=0)
    rng = np.random.default_rng(0)
    X = rng.random((5, 4))
    Y = rng.integers(0, 2, 5) if labels else np.eye(2)[rng.integers(0, 2, 5)]
    X0, Y0 = X.copy(), Y.copy()
    params = [p.copy() for p in net.weights + net.biases]
    net.cost(X, Y), net.backprop(X, Y), net.gradients(X, Y), net.per_example_gradients(X, Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    for p, q in zip(net.weights + net.biases, params):
        np.testing.assert_array_equal(p, q)

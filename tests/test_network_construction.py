"""Building a Network: defaults, dtype inference, repr, and what each wrong argument is told.

Pins what mutmut found unpinned in network.py's construction (docs/testing.md): the defaults of
``Network`` and ``from_parameters``, the dtype read from the weights, the repr, and the wording of
the errors for parameters of the wrong kind, count or range.
"""

from __future__ import annotations

import numpy as np
import pytest

from handprop import Network


def layers(dtypes=("float64", "float64")):
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(3, 4)).astype(dtypes[0]), rng.normal(size=(2, 3)).astype(dtypes[1])]
    return ws, [np.zeros(3), np.zeros(2)]


def test_defaults_are_the_books():
    net = Network([4, 3, 2])
    assert net.config() == {"sizes": [4, 3, 2], "hidden": ["sigmoid"], "output": "sigmoid", "cost": "quadratic", "dtype": "float64"}
    assert net.init == "normal"
    for a, b in zip(net.weights + net.biases, Network([4, 3, 2], seed=0).weights + Network([4, 3, 2], seed=0).biases):
        np.testing.assert_array_equal(a, b)  # seed 0 by default
    assert Network.from_parameters(*layers()).config()["hidden"] == ["sigmoid"]
    assert Network.from_parameters(*layers()).config() == net.config()


@pytest.mark.parametrize(
    "dtypes, expected",
    [(("float32", "float32"), "float32"), (("float64", "float32"), "float64"), (("float32", "float64"), "float32"),
     (("int64", "float32"), "float64"), (("int64", "int64"), "float64")],
)
def test_from_parameters_takes_the_first_weights_dtype_when_it_is_a_float(dtypes, expected):
    net = Network.from_parameters(*layers(dtypes))
    assert net.dtype.name == expected and {p.dtype.name for p in net.weights + net.biases} == {expected}


@pytest.mark.parametrize(
    "sizes, kwargs, text",
    [([4, 3, 2], dict(hidden="tanh", output="softmax", cost="cross_entropy", dtype="float32"),
      "Network(4-3-2, hidden=tanh, output=softmax, cost=cross_entropy, dtype=float32)"),
     ([4, 3, 3, 2], dict(hidden=["relu", "tanh"]), "Network(4-3-3-2, hidden=relu,tanh, output=sigmoid, cost=quadratic, dtype=float64)"),
     ([4, 3, 3, 2], dict(hidden=["relu", "relu"]), "Network(4-3-3-2, hidden=relu, output=sigmoid, cost=quadratic, dtype=float64)"),
     ([4, 2], {}, "Network(4-2, hidden=-, output=sigmoid, cost=quadratic, dtype=float64)")],
)
def test_repr_names_the_architecture(sizes, kwargs, text):
    assert repr(Network(sizes, **kwargs)) == text


def test_from_parameters_errors_say_what_was_expected():
    ws, bs = layers()
    with pytest.raises(TypeError, match=r"^weights must be a list with one array per layer, got ndarray$"):
        Network.from_parameters(ws[0], bs)
    with pytest.raises(TypeError, match=r"^biases must be a list with one array per layer, got ndarray$"):
        Network.from_parameters(ws, bs[0])
    with pytest.raises(ValueError, match=r"at least one layer, got 0 weight matrices and 0 bias vectors"):
        Network.from_parameters([], [])
    with pytest.raises(ValueError, match=r"got 2 weight matrices and 1 bias vectors"):
        Network.from_parameters(ws, bs[:1])
    with pytest.raises(TypeError, match=r"^weights\[1\] must be a numeric array shaped \(out, in\), got dtype <U2$"):
        Network.from_parameters([ws[0], "W2"], bs)


def test_set_parameters_errors_say_what_was_expected():
    net = Network([4, 3, 2])
    ws, bs = layers()
    with pytest.raises(TypeError, match=r"^weights must be a list of 2 arrays shaped \(3, 4\), \(2, 3\), got ndarray$"):
        net.set_parameters(ws[0], bs)
    with pytest.raises(TypeError, match=r"^biases must be a list of 2 arrays shaped \(3,\), \(2,\), got ndarray$"):
        net.set_parameters(ws, bs[0])
    with pytest.raises(ValueError, match=r"^expected 2 weight matrices and 2 bias vectors, got 1 and 2$"):
        net.set_parameters(ws[:1], bs)
    with pytest.raises(ValueError, match=r"^expected 2 weight matrices and 2 bias vectors, got 2 and 1$"):
        net.set_parameters(ws, bs[:1])
    net32 = Network([4, 3, 2], dtype="float32")
    with pytest.raises(ValueError, match=r"^weights\[1\] has values up to 1e\+39, beyond the range of float32"):
        net32.set_parameters([ws[0], np.full((2, 3), 1e39)], bs)
    with pytest.raises(ValueError, match=r"^biases\[0\] has values up to 1e\+39, beyond the range of float32"):
        net32.set_parameters(ws, [np.full(3, 1e39), bs[1]])


def test_building_a_network_is_logged_at_debug_level(caplog):
    with caplog.at_level("DEBUG", logger="handprop.network"):
        Network([4, 2], output="softmax", cost="cross_entropy")
    assert "built network Network(4-2, hidden=-, output=softmax, cost=cross_entropy, dtype=float64)" in caplog.messages


def test_sizes_of_the_wrong_kind_are_a_type_error():
    with pytest.raises(TypeError, match=r"^sizes must be a sequence of layer widths such as \[784, 16, 16, 10\], got 784$"):
        Network(784)

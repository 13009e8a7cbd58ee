"""Shapes and dtypes of everything the engine returns."""

import numpy as np
import pytest

from handprop import Network


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shapes_and_dtypes(dtype):
    net = Network([7, 5, 3], dtype=dtype, seed=0)
    X = np.random.default_rng(0).random((4, 7))
    g = net.gradients(X, np.array([0, 1, 2, 0]))
    assert [w.shape for w in g.nabla_w] == [(5, 7), (3, 5)]
    assert [b.shape for b in g.nabla_b] == [(5,), (3,)]
    assert [d.shape for d in g.delta] == [(4, 5), (4, 3)]
    assert [a.shape for a in g.nabla_a] == [(4, 7), (4, 5), (4, 3)]
    for arr in g.nabla_w + g.nabla_b + g.delta + g.nabla_a:
        assert arr.dtype == np.dtype(dtype)


def test_per_example_mean_is_batch_gradient():
    net = Network([6, 4, 3], hidden="tanh", output="softmax", cost="cross_entropy", seed=2)
    rng = np.random.default_rng(1)
    X, y = rng.random((5, 6)), rng.integers(0, 3, 5)
    batch = net.gradients(X, y)
    per = net.per_example_gradients(X, y)
    for pw, w in zip(per.nabla_w, batch.nabla_w):
        np.testing.assert_allclose(pw.mean(axis=0), w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(per.cost.mean(), batch.cost, rtol=1e-14)


def test_the_memory_check_counts_the_network_s_own_dtype(monkeypatch):
    """A float32 network is sized in float32: with memory for its parameters (and one layer drawn in
    float64) but not for float64 parameters, float32 is built and float64 refused (mutmut's open
    mutant: the check passed dtype None, i.e. float64, for every network)."""
    import handprop.checks as checks

    sizes = [1000, 1000, 10]
    count = 1001 * 1000 + 1001 * 10
    monkeypatch.setattr(checks, "available_memory", lambda: count * 4 + 1001 * 1000 * 8 + 1)
    Network(sizes, dtype="float32", seed=0)
    with pytest.raises(ValueError, match="memory available"):
        Network(sizes, dtype="float64", seed=0)

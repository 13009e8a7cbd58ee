"""Mini-batches: every example is in exactly one batch, in order, and the last short batch is trained.

Every engine shares ``batch_bounds``, so an example it loses would cancel in a comparison of two
engines; these tests compare each engine with an independent replay of the SGD steps instead.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handprop.network import Network
from handprop.backends import make_backend
from handprop.training import TrainConfig, batch_bounds, train_epoch

from train_helpers import torch_one_thread  # noqa: F401  (fixture)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 400), batch_size=st.integers(1, 64))
def test_batches_cover_every_example_once_in_order(n: int, batch_size: int) -> None:
    bounds = batch_bounds(n, batch_size)
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(n))  # every example once, in order, none beyond n
    assert all(stop - start == batch_size for start, stop in bounds[:-1])  # full batches ...
    assert 1 <= bounds[-1][1] - bounds[-1][0] <= batch_size  # ... and one last, possibly short
    assert len(bounds) == -(-n // batch_size)


def test_no_examples_no_batches() -> None:
    assert batch_bounds(0, 10) == []


def _replay(net: Network, x: np.ndarray, y: np.ndarray, order: np.ndarray, lr: float, l2: float, bounds) -> Network:
    """SGD written out from the book: W ← (1 − ηλ/n) W − η ∂C/∂W, b ← b − η ∂C/∂b, batch by batch."""
    net = net.copy()
    n = len(order)
    for start, stop in bounds:
        idx = order[start:stop]
        nabla_w, nabla_b = net.backprop(x[idx], y[idx])
        net.weights = [(1 - lr * l2 / n) * W - lr * nw for W, nw in zip(net.weights, nabla_w)]
        net.biases = [b - lr * nb for b, nb in zip(net.biases, nabla_b)]
    return net


# 21 = 2 × 10 + 1: the last batch holds one example, the first a range(0, n − 1, b) would lose
@pytest.mark.parametrize("name, engine", [("handprop", "numpy"), ("handprop", "compiled"), ("torch", "compiled")])
def test_an_epoch_trains_the_last_short_batch_too(name: str, engine: str, torch_one_thread) -> None:
    config = TrainConfig(arch=(6, 5, 3), hidden=("sigmoid",), output="sigmoid", cost="quadratic", init="xavier",
                         batch_size=10, lr=0.5, l2=1.0, dtype="float64")
    rng = np.random.default_rng(7)
    x = rng.random((21, 6))  # (n, in)
    y = np.eye(3)[rng.integers(0, 3, 21)]  # (n, out)
    order = rng.permutation(21)
    net = config.build_network()
    backend = make_backend(name, net, config, engine=engine)
    backend.load_training_data(x, y)
    train_epoch(backend, order, config.batch_size, epoch=1, progress=False)
    weights, biases = backend.parameters()
    expected = _replay(net, x, y, order, config.lr, config.l2, [(0, 10), (10, 20), (20, 21)])
    without_last = _replay(net, x, y, order, config.lr, config.l2, [(0, 10), (10, 20)])
    for got, want, short in zip(weights + biases, expected.weights + expected.biases, without_last.weights + without_last.biases):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        assert np.abs(want - short).max() > 1e-6  # the last example's step is far beyond round-off

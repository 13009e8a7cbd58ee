"""The compiled kernel at every width a block of 16 or 8 outputs can leave over.

The kernel computes a layer's outputs 16 and then 8 at a time and stores what is left (1 to 15
outputs) through a padded remainder, with rows taken four at a time and the rest one by one. Each
width from 1 to 33 leaves a different remainder of 16 (0 to 15, and 0, 1 after two full blocks), in
the forward pass (the sparse first layer and the dense second), and in the backward pass (δ W
of the same width). Each net steps in lockstep with the reference engine on batches of 7 (four
rows, then three) and a last batch of 6; after every step the parameters must agree to round-off.
"""

from __future__ import annotations

import numpy as np
import pytest

import numba  # noqa: F401  (a dependency: a broken install fails here, it does not skip)

from handprop.compiled import CompiledBackend
from handprop.network import Network
from handprop.numpy_backend import HandpropBackend

RTOL = 1e-12  # float64, relative to each array's largest entry (as in test_compiled.py)


@pytest.mark.parametrize("width", range(1, 34))
def test_every_remainder_of_a_block_steps_like_the_reference(width: int) -> None:
    rng = np.random.default_rng(width)
    x = rng.random((27, 19))  # (n, in)
    x[x < 0.5] = 0  # sparse, like MNIST
    y = np.eye(width)[rng.integers(0, width, 27)]  # (n, out): the output layer has the width too
    net = Network([19, width, width, width], "tanh", "sigmoid", "quadratic", init="xavier", dtype="float64", seed=width)
    reference, compiled = HandpropBackend(net.copy(), 0.5, 1.0), CompiledBackend(net.copy(), 0.5, 1.0)
    order = rng.permutation(27)
    for backend in (reference, compiled):
        backend.load_training_data(x, y)
        backend.begin_epoch(order)
    for start in range(0, 27, 7):
        stop = min(start + 7, 27)
        cost_ref, cost_compiled = reference.step(start, stop), compiled.step(start, stop)
        assert cost_compiled == pytest.approx(cost_ref, rel=RTOL)
        for p, q in zip(reference.net.weights + reference.net.biases, compiled.net.weights + compiled.net.biases):
            assert np.abs(p - q).max() <= RTOL * np.abs(p).max(), f"width {width}, batch from {start}"

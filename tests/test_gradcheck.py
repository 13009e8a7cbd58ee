"""Finite differences (torch.autograd.gradcheck) against the hand-written gradients, in float64."""

from __future__ import annotations

import numpy as np
import pytest

from handprop import Network
from handprop.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, Activation
from verify.compare import random_batch
from verify.gradcheck import GRADCHECK_RTOL, engine_gradcheck
from verify.compare import OUTPUT_COSTS



def test_the_bound_is_the_projects():
    assert GRADCHECK_RTOL <= 1e-6


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_central_differences_match_hand_written_gradients(output, cost, hidden):
    net = Network([4, 5, 3], hidden=hidden, output=output, cost=cost, dtype="float64", seed=7)
    X, y = random_batch(net, 3, np.random.default_rng(7))
    result = engine_gradcheck(net, X, y)  # every entry of x, W and b; rtol 1e-6
    assert result.passed, result.message
    assert result.entries == 3 * 4 + (5 * 4 + 5) + (3 * 5 + 3)


def test_float32_network_is_checked_on_a_float64_copy_and_left_untouched():
    net = Network([3, 4, 2], hidden="tanh", output="softmax", cost="cross_entropy", dtype="float32", seed=1)
    before = [w.copy() for w in net.weights + net.biases]
    X, y = random_batch(net, 2, np.random.default_rng(1))
    assert engine_gradcheck(net, X, y).passed
    for a, b in zip(net.weights + net.biases, before):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_video_network_in_fast_mode():
    net = Network([784, 16, 16, 10], seed=0)
    X, y = random_batch(net, 2, np.random.default_rng(0))
    result = engine_gradcheck(net, X, y, fast_mode=True)
    assert result.passed, result.message


@pytest.mark.parametrize("error", [1e-5, -1e-4])
def test_a_derivative_wrong_by_a_tiny_factor_fails(monkeypatch, error):
    # the check is tight: a hidden σ' off by 1e-5 relative must not pass
    good = ACTIVATIONS["sigmoid"]
    broken = Activation("sigmoid", good.forward, lambda z, a: a * (1 - a) * (1 + error))
    monkeypatch.setitem(ACTIVATIONS, "sigmoid", broken)  # every network built from now on
    net = Network([4, 5, 3], hidden="sigmoid", output="identity", cost="quadratic", seed=2)
    X, y = random_batch(net, 3, np.random.default_rng(2))
    result = engine_gradcheck(net, X, y)
    assert not result.passed
    assert "Jacobian mismatch" in result.message

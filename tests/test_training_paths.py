"""Every path that computes a gradient for training, against autograd (the twin), in float64.

``Network.gradients`` is compared tensor by tensor in test_twin.py; training never calls it. It
uses ``backprop`` (the Python API), ``cost_and_backprop_prepared`` with the learning rate folded
into δᴸ (the NumPy engine's step) and the compiled kernel's step. Each is held to the project's
float64 contract (relative error ≤ 1e-10 of each array's scale): the gradient a step applied is
read back from the parameters, ∇ = (W_before − W_after) / η with no weight decay.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # noqa: F401  (a dependency: a broken install fails here, it does not skip)

from handprop import Network
from handprop.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, Activation
from handprop.backends import make_backend
from handprop.training import TrainConfig
from verify.compare import OUTPUT_COSTS, TOLERANCES, random_batch
from verify.model import TwinNetwork, twin_gradients

SIZES = [5, 7, 3, 4]  # every layer non-square
LR = 0.75
TOL = TOLERANCES["float64"]


def _problem(hidden: str, output: str, cost: str, seed: int = 0):
    net = Network(SIZES, hidden=hidden, output=output, cost=cost, dtype="float64", seed=seed)
    X, labels = random_batch(net, 6, np.random.default_rng(seed + 100))
    auto = twin_gradients(TwinNetwork.from_network(net), X, labels, net)
    return net, X, np.eye(SIZES[-1])[labels], auto


def _assert_close(got, expected, what: str) -> None:
    for l, (g, e) in enumerate(zip(got, expected), start=1):
        assert g.shape == e.shape, f"{what} of layer {l}: shape {g.shape}, autograd {e.shape}"
        error = np.abs(g - e).max() / max(np.abs(e).max(), 1e-300)
        assert error <= TOL, f"{what} of layer {l}: relative error {error:.3g} > {TOL:g}"


def _stepped(net: Network, X, Y, engine: str):
    """The gradient one SGD step on the whole batch applied, read back from the parameters."""
    config = TrainConfig(arch=tuple(SIZES), hidden=tuple(net.hidden), output=net.output, cost=net.cost_name,
                         lr=LR, l2=0.0, dtype="float64")  # fmt: skip
    backend = make_backend("handprop", net, config, engine=engine)
    backend.load_training_data(X, Y)
    backend.begin_epoch(np.arange(len(X)))
    cost = backend.step(0, len(X))
    weights, biases = backend.parameters()
    return (float(cost), [(W0 - W) / LR for W0, W in zip(net.weights, weights)],
            [(b0 - b) / LR for b0, b in zip(net.biases, biases)])  # fmt: skip


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_backprop_and_the_scaled_gradients_match_autograd(output, cost, hidden):
    net, X, Y, auto = _problem(hidden, output, cost)
    nabla_w, nabla_b = net.backprop(X, Y)
    _assert_close(nabla_w, auto.nabla_w, "backprop's ∂C/∂W")
    _assert_close(nabla_b, auto.nabla_b, "backprop's ∂C/∂b")
    c, eta_w, eta_b = net.cost_and_backprop_prepared(*net.prepare(X, Y), scale=LR)
    assert c == pytest.approx(auto.cost, rel=TOL)
    _assert_close([g / LR for g in eta_w], auto.nabla_w, "cost_and_backprop_prepared's η∂C/∂W ÷ η")
    _assert_close([g / LR for g in eta_b], auto.nabla_b, "cost_and_backprop_prepared's η∂C/∂b ÷ η")
    _, plain_w, plain_b = net.cost_and_backprop_prepared(*net.prepare(X, Y))  # no scale: the gradient itself
    _assert_close(plain_w + plain_b, auto.nabla_w + auto.nabla_b, "cost_and_backprop_prepared's ∂C/∂θ")


@pytest.mark.parametrize("engine", ["numpy", "compiled"])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_the_step_of_each_engine_applies_autograds_gradient(output, cost, hidden, engine):
    net, X, Y, auto = _problem(hidden, output, cost, seed=1)
    c, nabla_w, nabla_b = _stepped(net, X, Y, engine)
    assert c == pytest.approx(auto.cost, rel=TOL)
    _assert_close(nabla_w, auto.nabla_w, f"the {engine} step's ∂C/∂W")
    _assert_close(nabla_b, auto.nabla_b, f"the {engine} step's ∂C/∂b")


@pytest.mark.parametrize("path", ["backprop", "numpy"])
def test_a_step_with_a_slightly_wrong_derivative_is_caught(monkeypatch, path):
    """σ′ off by 1e-7 (far below anything a plot would show) must fail the comparison above. (The
    compiled kernel has its own σ′, which ACTIVATIONS does not reach; test_compiled_widths.py and
    tools/mutation.py's compiled mutants show its comparisons can fail.)"""
    good = ACTIVATIONS["tanh"]
    monkeypatch.setitem(ACTIVATIONS, "tanh", Activation("tanh", good.forward, lambda z, a: good.prime(z, a) * (1 + 1e-7)))
    net, X, Y, auto = _problem("tanh", "sigmoid", "quadratic", seed=1)
    nabla_w = net.backprop(X, Y)[0] if path == "backprop" else _stepped(net, X, Y, path)[1]
    with pytest.raises(AssertionError, match="relative error"):
        _assert_close(nabla_w, auto.nabla_w, "∂C/∂W")

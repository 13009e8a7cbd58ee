"""Per-example gradients against torch.func: vmap over grad of each example's own cost C_x.

The reference is autograd through the twin (``verify.model.TwinNetwork``) called with
``torch.func.functional_call``, so nothing on the reference side is differentiated by hand. Float64
throughout; every array must agree with relative error ≤ 1e-10 (per example, in the max norm).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from handprop import Network
from verify.model import TORCH_ACTIVATIONS, TwinNetwork
from verify.compare import OUTPUT_COSTS

RTOL = 1e-10
HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
SIZES = [6, 5, 4, 3]
N = 7


class _ExampleCost(nn.Module):
    """C_x of one example through the twin: ``forward(x (in,), y (out,))`` → scalar."""

    def __init__(self, twin: TwinNetwork) -> None:
        super().__init__()
        self.twin = twin

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.twin.cost(x[None], y[None])  # mean over a batch of one = C_x


def _tail_cost(twin: TwinNetwork, params: dict, start: int, a: torch.Tensor, y: torch.Tensor, from_z: bool):
    """C_x as a function of one example's z^start (from_z) or a^(start-1): runs layers start…L only."""
    names = twin.activation_names
    L = len(names)
    a, z = (None, a[None]) if from_z else (a[None], None)
    for l in range(start - 1, L):  # l indexes weights[l] = W^(l+1)
        if z is None:
            z = a @ params[f"twin.layers.{l}.weight"].T + params[f"twin.layers.{l}.bias"]
        a = TORCH_ACTIVATIONS[names[l]](z)
        if l < L - 1:
            z = None
    return twin.cost_from(z, a, y[None])


def _rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    """max over examples of ‖ours_x − ref_x‖_∞ / ‖ref_x‖_∞ (rows where ref_x = 0 must be exactly 0)."""
    diff = np.abs(ours - ref).reshape(len(ref), -1).max(axis=1)  # (n,)
    scale = np.abs(ref).reshape(len(ref), -1).max(axis=1)  # (n,)
    zero = scale == 0
    if np.any(diff[zero] != 0):
        return float("inf")
    return float((diff[~zero] / scale[~zero]).max()) if (~zero).any() else 0.0


def _problem(hidden: str, output: str, cost: str, soft: bool, seed: int = 0):
    """A small float64 network kept out of saturation, a batch of N inputs, and targets.

    Xavier weights plus N(0, 0.5²) biases keep |z| of order one. In a saturated tanh or sigmoid
    unit σ' = 1 − a² (or a(1 − a)) is computed from a rounded a on both sides, which loses relative
    accuracy in the reference as much as in the engine, so it could not test either.
    """
    net = Network(SIZES, hidden=hidden, output=output, cost=cost, init="xavier", dtype="float64", seed=seed)
    rng = np.random.default_rng(seed + 100)
    net.set_parameters(net.weights, [0.5 * rng.standard_normal(b.shape) for b in net.biases])
    X = rng.standard_normal((N, SIZES[0]))
    Y = rng.random((N, SIZES[-1])) if soft else rng.integers(0, SIZES[-1], N)
    return net, X, Y


def _reference(net: Network, X: np.ndarray, Y: np.ndarray):
    """Per-example gradients from torch.func: parameters, input, and δ^ℓ / ∂C_x/∂a^ℓ for every layer."""
    x_np, y_np = net.prepare(X, Y)
    twin = TwinNetwork.from_network(net)
    module = _ExampleCost(twin)
    params = {k: v.detach() for k, v in module.named_parameters()}
    x, y = torch.tensor(x_np), torch.tensor(y_np)

    def cost_x(p, x1, y1):
        return functional_call(module, p, (x1, y1))

    cost = vmap(cost_x, in_dims=(None, 0, 0))(params, x, y)
    g_params, g_x = vmap(grad(cost_x, argnums=(0, 1)), in_dims=(None, 0, 0))(params, x, y)
    with torch.no_grad():
        zs, activations = twin.forward_pass(x)
    L = net.num_layers
    delta, nabla_a = [], [g_x.numpy()]
    for l in range(1, L + 1):
        f_z = lambda z1, y1, l=l: _tail_cost(twin, params, l, z1, y1, from_z=True)
        delta.append(vmap(grad(f_z))(zs[l - 1], y).numpy())
        if l < L:  # ∂C_x/∂a^l: run layers l+1…L from a^l
            f_a = lambda a1, y1, l=l: _tail_cost(twin, params, l + 1, a1, y1, from_z=False)
            nabla_a.append(vmap(grad(f_a))(activations[l], y).numpy())
    out_cost = lambda a1, y1: twin.output_cost_from_a(a1[None], y1[None])
    nabla_a.append(vmap(grad(out_cost))(activations[-1], y).numpy())
    nabla_w = [g_params[f"twin.layers.{l}.weight"].numpy() for l in range(L)]
    nabla_b = [g_params[f"twin.layers.{l}.bias"].numpy() for l in range(L)]
    return cost.numpy(), nabla_w, nabla_b, delta, nabla_a


# every hidden activation × every output/cost pair with integer labels, and real-valued targets in
# [0, 1] (rows not summing to one) for the pairs where they matter: both cross-entropies and sigmoid+quadratic
CASES = [
    pytest.param(h, o, c, soft, id=f"{h}-{o}+{c}-{'soft' if soft else 'labels'}")
    for h in HIDDEN
    for o, c in OUTPUT_COSTS
    for soft in ([False, True] if c == "cross_entropy" or o == "sigmoid" else [False])
]


@pytest.mark.parametrize("hidden,output,cost,soft", CASES)
def test_per_example_matches_torch_func(hidden, output, cost, soft):
    net, X, Y = _problem(hidden, output, cost, soft)
    ours = net.per_example_gradients(X, Y)
    ref_cost, ref_w, ref_b, ref_delta, ref_a = _reference(net, X, Y)
    errors = {"cost": _rel_err(ours.cost[:, None], ref_cost[:, None])}
    for l in range(net.num_layers):
        assert ours.nabla_w[l].shape == (N, SIZES[l + 1], SIZES[l])
        assert ours.nabla_b[l].shape == (N, SIZES[l + 1])
        errors[f"nabla_w[{l}]"] = _rel_err(ours.nabla_w[l], ref_w[l])
        errors[f"nabla_b[{l}]"] = _rel_err(ours.nabla_b[l], ref_b[l])
        errors[f"delta[{l}]"] = _rel_err(ours.delta[l], ref_delta[l])
    assert len(ours.nabla_a) == net.num_layers + 1
    for l in range(net.num_layers + 1):  # input, hidden layers and output
        assert ours.nabla_a[l].shape == (N, SIZES[l])
        errors[f"nabla_a[{l}]"] = _rel_err(ours.nabla_a[l], ref_a[l])
    worst = max(errors, key=errors.get)
    assert errors[worst] <= RTOL, f"{worst}: relative error {errors[worst]:.3g} (all: {errors})"


@pytest.mark.parametrize("output,cost", OUTPUT_COSTS, ids=[f"{o}+{c}" for o, c in OUTPUT_COSTS])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_mean_over_batch_is_batch_gradient(hidden, output, cost):
    net, X, Y = _problem(hidden, output, cost, soft=False, seed=3)
    per = net.per_example_gradients(X, Y)
    batch = net.gradients(X, Y)
    for pw, w, pb, b in zip(per.nabla_w, batch.nabla_w, per.nabla_b, batch.nabla_b):
        np.testing.assert_allclose(pw.mean(axis=0), w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(pb.mean(axis=0), b, rtol=1e-12, atol=1e-14)
    # the batch's δ and ∂C/∂a rows are each example's own, divided by n (C is the mean)
    for pd, d in zip(per.delta, batch.delta):
        np.testing.assert_allclose(pd / N, d, rtol=1e-12, atol=1e-15)
    for pa, a in zip(per.nabla_a, batch.nabla_a):
        np.testing.assert_allclose(pa / N, a, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(per.cost.mean(), batch.cost, rtol=1e-13)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 100])
def test_chunked_equals_unchunked(chunk_size):
    net, X, Y = _problem("tanh", "softmax", "cross_entropy", soft=False, seed=5)
    whole = net.per_example_gradients(X, Y)
    chunks = list(net.iter_per_example_gradients(X, Y, chunk_size=chunk_size))
    assert len(chunks) == -(-N // chunk_size)
    assert all(len(c.cost) <= chunk_size for c in chunks)
    # equal up to rounding: BLAS may sum in a different order for a different batch size
    np.testing.assert_allclose(np.concatenate([c.cost for c in chunks]), whole.cost, rtol=1e-14, atol=0)
    fields = ["nabla_w", "nabla_b", "delta", "nabla_a"]
    for field in fields:
        for l, full in enumerate(getattr(whole, field)):
            joined = np.concatenate([getattr(c, field)[l] for c in chunks])
            assert joined.shape == full.shape
            assert _rel_err(joined, full) <= 1e-13, f"{field}[{l}]"


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True, "10"])
def test_bad_chunk_size_is_rejected_at_call(chunk_size):
    net, X, Y = _problem("sigmoid", "sigmoid", "quadratic", soft=False)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        net.iter_per_example_gradients(X, Y, chunk_size=chunk_size)  # before any iteration


def test_bad_batch_is_rejected_at_call():
    net, X, Y = _problem("sigmoid", "sigmoid", "quadratic", soft=False)
    with pytest.raises(ValueError, match="columns"):
        net.iter_per_example_gradients(X[:, :3], Y, chunk_size=2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_per_example_keeps_dtype(dtype):
    net = Network(SIZES, dtype=dtype, seed=0)
    X = np.random.default_rng(0).random((N, SIZES[0]))
    per = net.per_example_gradients(X, np.arange(N) % SIZES[-1])
    for arr in [per.cost] + per.nabla_w + per.nabla_b + per.delta + per.nabla_a:
        assert arr.dtype == np.dtype(dtype)

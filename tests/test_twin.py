"""The hand-written engine against its autograd twin, tensor by tensor (``verify.compare``)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from handprop import Network
from handprop.activations import HIDDEN_ACTIVATIONS, Activation
from verify.compare import (
    TOLERANCES,
    GradientMismatch,
    assert_twin_agrees,
    compare,
    random_batch,
    saturation_margin,
)
from verify.model import TwinNetwork
from verify.compare import OUTPUT_COSTS

SIZES = [5, 7, 3, 4]  # every layer non-square
SATURATION_MARGIN = {"float64": 1e-4, "float32": 1e-1}  # ≈ 100 ε_mach / tolerance


def make(hidden, output, cost, dtype, n, seed=0, sizes=SIZES):
    net = Network(sizes, hidden=hidden, output=output, cost=cost, dtype=dtype, seed=seed)
    X, y = random_batch(net, n, np.random.default_rng(seed + 1000))
    return net, X, y


@pytest.mark.parametrize("n", [1, 2, 37])
@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_tensor_matches_autograd(dtype, output, cost, hidden, n):
    net, X, y = make(hidden, output, cost, dtype, n, seed=n)
    report = assert_twin_agrees(net, X, y)  # raises naming the tensor that is out of tolerance
    assert report.tolerance == TOLERANCES[dtype]
    L = len(SIZES) - 1
    expected = ["C", "dC/da0"] + [f"dC/d{v}{l}" for l in range(1, L + 1) for v in "Wbza"]
    assert [row.name for row in report.rows] == expected
    assert report.row("dC/dW2").shape == (3, 7) and report.row("dC/dz3").shape == (n, 4)


@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_one_hot_targets_match_label_targets(output, cost):
    net, X, y = make("tanh", output, cost, "float64", 6)
    onehot = np.eye(SIZES[-1])[y]
    by_label, by_row = net.gradients(X, y), net.gradients(X, onehot)
    for a, b in zip(by_label.nabla_w + by_label.nabla_a, by_row.nabla_w + by_row.nabla_a):
        np.testing.assert_array_equal(a, b)
    assert_twin_agrees(net, X, onehot)


@pytest.mark.parametrize("hidden", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_float32_network_keeps_float32_everywhere(output, cost, hidden):
    net, X, y = make(hidden, output, cost, "float32", 4)
    fp = net.feedforward(X)  # X is float64: it must be cast once, at the boundary
    g = net.gradients(X, y)
    per = net.per_example_gradients(X, y)
    nabla_w, nabla_b = net.backprop(X, y)
    arrays = fp.zs + fp.activations + g.nabla_w + g.nabla_b + g.delta + g.nabla_a
    arrays += nabla_w + nabla_b + per.nabla_w + per.nabla_b + per.delta + per.nabla_a + [per.cost]
    assert {a.dtype for a in arrays} == {np.dtype("float32")}
    assert isinstance(g.cost, float)


@settings(max_examples=60, deadline=None)
@given(
    widths=st.lists(st.integers(1, 8), min_size=2, max_size=5),  # 1 to 4 weight layers
    n=st.integers(1, 9),
    hidden_pick=st.lists(st.sampled_from(HIDDEN_ACTIVATIONS), min_size=3, max_size=3),
    output_cost=st.sampled_from(OUTPUT_COSTS),
    dtype=st.sampled_from(["float64", "float32"]),
    init=st.sampled_from(["normal", "xavier", "he"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_twin_agrees_on_random_networks(widths, n, hidden_pick, output_cost, dtype, init, seed):
    output, cost = output_cost
    hidden = hidden_pick[: len(widths) - 2]  # one activation per hidden layer, mixed
    net = Network(widths, hidden=hidden, output=output, cost=cost, init=init, dtype=dtype, seed=seed)
    X, y = random_batch(net, n, np.random.default_rng(seed))
    # A unit within 1 − |a| of saturation makes the gradient itself ill-conditioned (relative
    # rounding error ~ ε/(1 − |a|) in *both* implementations): the tolerance is a claim about
    # well-conditioned networks. SATURATION_MARGIN keeps ε/(1 − |a|) 100× below the tolerance.
    assume(saturation_margin(net, X) > SATURATION_MARGIN[dtype])
    assert_twin_agrees(net, X, y)


def test_a_wrong_derivative_is_caught_and_named():
    net, X, y = make("sigmoid", "sigmoid", "quadratic", "float64", 5)
    # σ' off by 1e-6: far below anything visible in a plot, far above the 1e-10 tolerance
    net.activations[1] = Activation("sigmoid", net.activations[1].forward, lambda z, a: a * (1 - a) * (1 + 1e-6))
    report = compare(net, X, y)
    assert not report.passed
    assert {row.name for row in report.failures} == {"dC/dz2", "dC/dW2", "dC/db2", "dC/da1", "dC/dz1", "dC/dW1", "dC/db1", "dC/da0"}
    assert report.row("dC/dW3").passed and report.row("C").passed
    with pytest.raises(GradientMismatch, match=r"dC/dz2 \(5, 3\): max abs error .* > tolerance 1e-10"):
        report.raise_if_failed()
    assert "FAIL" in report.table()


def test_twin_round_trips_through_network():
    net = Network([6, 5, 3], hidden="relu", output="softmax", cost="cross_entropy", dtype="float32", seed=3)
    twin = TwinNetwork.from_network(net)
    back = twin.to_network()
    assert back.config() == net.config()
    for a, b in zip(back.weights + back.biases, net.weights + net.biases):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    twin2 = TwinNetwork.from_network(back)
    for p, q in zip(twin.parameters(), twin2.parameters()):
        assert p.dtype == torch.float32
        assert torch.equal(p, q)
    X = np.random.default_rng(0).random((3, 6))
    with torch.no_grad():
        np.testing.assert_array_equal(twin2(torch.tensor(X, dtype=torch.float32)).numpy(), twin(torch.tensor(X, dtype=torch.float32)).numpy())


def test_import_handprop_does_not_import_torch():
    code = "import sys, handprop, handprop.cli, handprop.commands.check; handprop.cli.build_parser(); assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))

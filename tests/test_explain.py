"""handprop.explain: every quantity matches the twin's autograd values; mini-batch study; text."""

from __future__ import annotations

import re

import numpy as np
import pytest

from handprop import Network
from handprop.explain import (
    ExplainConfig,
    compare_with_batch,
    factored_statistics,
    explain_example,
    full_gradient,
    minibatch_study,
)
from handprop.explain_text import format_explanation
from verify.model import TwinNetwork, twin_gradients

RTOL = 1e-10
SIZES = [12, 6, 5, 4]
CONFIGS = [
    ("sigmoid", "sigmoid", "quadratic"),
    ("tanh", "softmax", "cross_entropy"),
    ("relu", "sigmoid", "cross_entropy"),
    ("identity", "softmax", "quadratic"),
]


def _rel(ours, ref) -> float:
    ours, ref = np.asarray(ours), np.asarray(ref)
    scale = np.abs(ref).max()
    return float(np.abs(ours - ref).max() / scale) if scale > 0 else float(np.abs(ours).max())


def _problem(hidden, output, cost, seed=0):
    net = Network(SIZES, hidden=hidden, output=output, cost=cost, init="xavier", seed=seed)
    rng = np.random.default_rng(seed + 7)
    net.set_parameters(net.weights, [0.5 * rng.standard_normal(b.shape) for b in net.biases])
    X = rng.random((40, SIZES[0]))  # (n, in), pixel-like values in [0, 1)
    labels = rng.integers(0, SIZES[-1], 40)  # (n,)
    return net, X, labels


@pytest.fixture(params=CONFIGS, ids=["-".join(c) for c in CONFIGS])
def problem(request):
    return _problem(*request.param)


def _twin(net, x, label):
    """Autograd's gradients of C_x (a batch of one: its mean cost is C_x itself)."""
    return twin_gradients(TwinNetwork.from_network(net), x[None, :], np.array([label]), net)


@pytest.mark.parametrize("neuron", [None, 0])
def test_sensitivities_match_twin(problem, neuron):
    net, X, labels = problem
    x, label = X[3], int(labels[3])
    e = explain_example(net, x, label, neuron=neuron, top=4)
    ref = _twin(net, x, label)
    ref_w, ref_b = ref.nabla_w[-1], ref.nabla_b[-1]  # ∂C_x/∂W^L (out, prev), ∂C_x/∂b^L (out,)
    for s in e.weight_sensitivities:
        assert abs(s.partial - ref_w[s.index]) <= RTOL * np.abs(ref_w).max()
    for s in e.bias_sensitivities:
        assert abs(s.partial - ref_b[s.index]) <= RTOL * np.abs(ref_b).max()
    # the ranking is the twin's ranking by magnitude (no ties in random data)
    assert [s.index for s in e.weight_sensitivities] == [
        tuple(int(i) for i in np.unravel_index(f, ref_w.shape)) for f in np.argsort(-np.abs(ref_w), axis=None)[:4]
    ]
    assert [s.index[0] for s in e.bias_sensitivities] == list(np.argsort(-np.abs(ref_b))[:4])
    # the median leaves out exact zeros (weights behind inactive ReLUs)
    nonzero = np.abs(ref_w)[ref_w != 0]
    median = np.median(nonzero)
    assert e.zero_weight_partials == ref_w.size - nonzero.size
    assert e.median_weight_partial == pytest.approx(median, rel=RTOL)
    for s in e.weight_sensitivities:
        assert s.times_median == pytest.approx(abs(ref_w[s.index]) / median, rel=1e-9)
    assert e.outputs.cost == pytest.approx(ref.cost, rel=1e-12)
    assert _rel(e.outputs.desired, -ref.nabla_a[-1][0]) <= RTOL
    assert _rel(e.first_layer_nabla_w, ref.nabla_w[0]) <= RTOL
    assert _rel(e.first_layer_nabla_b, ref.nabla_b[0]) <= RTOL


def test_avenues_match_twin(problem):
    net, X, labels = problem
    x, label = X[5], int(labels[5])
    e = explain_example(net, x, label, top=3)
    av = e.avenues
    ref = _twin(net, x, label)
    j = label
    assert av.neuron == j
    assert av.delta == pytest.approx(ref.delta[-1][0, j], rel=RTOL)
    assert av.bias_partial == pytest.approx(ref.nabla_b[-1][j], rel=RTOL)
    assert _rel(av.weight_partials, ref.nabla_w[-1][j]) <= RTOL
    assert _rel(av.previous_desired, -ref.nabla_a[-2][0]) <= RTOL
    # weights' avenue ∝ the previous activations, activations' avenue ∝ the weights, factor δ_j
    np.testing.assert_allclose(av.weight_partials, av.delta * av.previous_activations, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(av.activation_partials, av.delta * net.weights[-1][j], rtol=1e-13)
    # the wishes of all output neurons add up to the engine's ∂C_x/∂a^(L-1)
    np.testing.assert_allclose(-av.contributions.sum(axis=0), av.previous_desired, rtol=1e-12, atol=1e-15)
    assert av.top_by_activation == list(np.argsort(-np.abs(av.previous_activations))[:3])
    assert av.top_by_weight == list(np.argsort(-np.abs(net.weights[-1][j]))[:3])


def test_quadratic_desired_change_is_target_minus_activation():
    net, X, labels = _problem("sigmoid", "sigmoid", "quadratic")
    e = explain_example(net, X[0], int(labels[0]))
    np.testing.assert_allclose(e.outputs.desired, e.outputs.targets - e.outputs.activations, rtol=1e-15)
    assert e.outputs.targets[int(labels[0])] == 1 and e.outputs.targets.sum() == 1


_ROW = re.compile(r"^\s+\d+\s+(?P<name>[wb]\d\[[\d,]+\])\s+(?P<value>[+-]\d\.\d+e[+-]\d+)\s")


def test_printed_sensitivities_are_the_twins(problem):
    net, X, labels = problem
    x, label = X[9], int(labels[9])
    e = explain_example(net, x, label, top=5)
    text = format_explanation(e, net, "title")
    ref = _twin(net, x, label)
    printed = {m["name"]: float(m["value"]) for m in map(_ROW.match, text.splitlines()) if m}
    L = net.num_layers
    assert len(printed) == 5 + SIZES[-1]  # top 5 weights and all 4 biases
    for name, value in printed.items():
        index = tuple(int(i) for i in name[name.index("[") + 1 : -1].split(","))
        ref_value = (ref.nabla_w if name[0] == "w" else ref.nabla_b)[L - 1][index]
        assert value == pytest.approx(ref_value, rel=1e-4)  # printed with 5 significant digits


def test_text_has_every_section(problem):
    net, X, labels = problem
    e = explain_example(net, X[0], int(labels[0]))
    batch = compare_with_batch(net, X, labels, range(8))
    study = minibatch_study(net, X, labels, sizes=(1, 10), trials=3)
    text = format_explanation(e, net, "My title", batch, study)
    assert text.startswith("My title\n")
    for heading in ("1. Output layer", "2. How sensitive", "3. Three avenues", "4. One mini-batch of 8", "batch size"):
        assert heading in text
    assert "← label" in text


def test_compare_with_batch_matches_twin_per_example():
    net, X, labels = _problem("tanh", "sigmoid", "quadratic", seed=2)
    idx = [4, 0, 17, 9, 33]
    b = compare_with_batch(net, X, labels, idx, chunk_size=2)
    twin = TwinNetwork.from_network(net)
    rows = []
    for i in idx:
        g = twin_gradients(twin, X[i : i + 1], labels[i : i + 1], net)
        rows.append(np.concatenate([p.ravel() for w, bb in zip(g.nabla_w, g.nabla_b) for p in (w, bb)]))
    rows = np.array(rows)  # ∇C_x, (m, parameters)
    mean = rows.mean(axis=0)
    cos = rows @ mean / (np.linalg.norm(rows, axis=1) * np.linalg.norm(mean))
    np.testing.assert_allclose(b.cosines, cos, rtol=1e-10)
    np.testing.assert_allclose(b.norm_ratios, np.linalg.norm(rows, axis=1) / np.linalg.norm(mean), rtol=1e-10)
    np.testing.assert_array_equal(b.labels, labels[idx])
    assert b.batch_cost == pytest.approx(b.costs.mean())


def test_full_gradient_chunked_equals_backprop():
    net, X, labels = _problem("sigmoid", "softmax", "cross_entropy", seed=4)
    x, y = net.prepare(X, labels)
    g, cost = full_gradient(net, x, y, chunk_size=7)
    nabla_w, nabla_b = net.backprop(X, labels)
    ref = np.concatenate([p.ravel() for w, b in zip(nabla_w, nabla_b) for p in (w, b)])
    np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-16)
    assert cost == pytest.approx(net.cost(X, labels), rel=1e-13)


def test_minibatch_study_limits_and_seed():
    net, X, labels = _problem("sigmoid", "sigmoid", "quadratic", seed=1)
    n = len(labels)
    study = minibatch_study(net, X, labels, sizes=(1, 5, n), trials=4, seed=3)
    assert [r.size for r in study.rows] == [1, 5, n] and study.examples == n
    whole = study.rows[-1]  # a "mini-batch" of every example is the full gradient
    assert whole.cosine_mean == pytest.approx(1.0, abs=1e-12)
    assert whole.relative_error_mean == pytest.approx(0.0, abs=1e-12)
    assert whole.norm_ratio_mean == pytest.approx(1.0, abs=1e-12)
    assert study.rows[0].cosine_mean < whole.cosine_mean
    again = minibatch_study(net, X, labels, sizes=(1, 5, n), trials=4, seed=3)
    assert again.rows == study.rows
    with pytest.raises(ValueError, match="exceed"):
        minibatch_study(net, X, labels, sizes=(n + 1,))


def test_minibatch_study_statistics_equal_a_direct_computation():
    """Every column of every row recomputed here from the same draws: cos∠(∇C_B, ∇C) with its mean and
    standard deviation over the trials, ‖∇C_B‖/‖∇C‖ and ‖∇C_B − ∇C‖/‖∇C‖ (∇C from net.backprop)."""
    net, X, labels = _problem("tanh", "softmax", "cross_entropy", seed=2)
    sizes, trials = (1, 4, 13), 6
    study = minibatch_study(net, X, labels, sizes=sizes, trials=trials, seed=5)

    def flat(nabla_w, nabla_b):
        return np.concatenate([p.ravel() for w, b in zip(nabla_w, nabla_b) for p in (w, b)])

    g_full = flat(*net.backprop(X, labels))
    rng = np.random.default_rng(5)  # the study's documented draws
    for row, size in zip(study.rows, sizes):
        g = [flat(*net.backprop(X[idx], labels[idx])) for idx in (rng.choice(len(labels), size=size, replace=False) for _ in range(trials))]
        cos = np.array([gb @ g_full / (np.linalg.norm(gb) * np.linalg.norm(g_full)) for gb in g])
        ratio = np.array([np.linalg.norm(gb) / np.linalg.norm(g_full) for gb in g])
        error = np.array([np.linalg.norm(gb - g_full) / np.linalg.norm(g_full) for gb in g])
        assert (row.size, row.trials) == (size, trials)
        assert row.cosine_mean == pytest.approx(cos.mean(), rel=1e-10)
        assert row.cosine_std == pytest.approx(cos.std(), rel=1e-8, abs=1e-14)
        assert row.norm_ratio_mean == pytest.approx(ratio.mean(), rel=1e-10)
        assert row.relative_error_mean == pytest.approx(error.mean(), rel=1e-10)
    assert study.rows[0].cosine_std > 0.01  # single examples point in visibly different directions


@pytest.mark.parametrize(
    "kwargs, match",
    [({"label": 4}, "label must be"), ({"label": 1, "neuron": -1}, "neuron must be"),
     ({"label": 1, "top": 0}, "top must be")],
)
def test_explain_example_rejects_bad_arguments(kwargs, match):
    net, X, _ = _problem("sigmoid", "sigmoid", "quadratic")
    with pytest.raises(ValueError, match=match):
        explain_example(net, X[0], **kwargs)
    with pytest.raises(ValueError, match="one example"):
        explain_example(net, X[:2], 1)


@pytest.mark.parametrize("field, value", [("top", 0), ("trials", -1), ("chunk_size", 1.5), ("sizes", (0, 10))])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        ExplainConfig(**{field: value})


@pytest.mark.parametrize("hidden,output,cost", CONFIGS)
@pytest.mark.parametrize("chunk_size", [3, 1000])
def test_factored_per_example_statistics_equal_the_materialised_ones(hidden, output, cost, chunk_size):
    """‖∇C_x‖ and cos∠(∇C_x, ∇C) from δ and a alone agree with those of the formed ∇C_x."""
    net, X, labels = _problem(hidden, output, cost, seed=4)
    idx = [4, 0, 17, 9, 33, 21, 2]
    factored = compare_with_batch(net, X, labels, idx, chunk_size=chunk_size)
    formed = compare_with_batch(net, X, labels, idx, chunk_size=chunk_size, materialise=True)
    np.testing.assert_allclose(factored.norm_ratios, formed.norm_ratios, rtol=RTOL)
    np.testing.assert_allclose(factored.cosines, formed.cosines, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(factored.costs, formed.costs, rtol=RTOL)
    x, y = net.prepare(X[idx], labels[idx])
    *_, mean = factored_statistics(net, x, y, chunk_size)
    expected = np.concatenate([p.ravel() for w, b in zip(*net.backprop_prepared(x, y)) for p in (w, b)])
    np.testing.assert_allclose(mean, expected, rtol=RTOL, atol=RTOL * np.abs(expected).max())

"""The layers assignment piece by piece: its cases (seeded, numbered, described, hidden last), the
shape of a mistake, the mistakes it can name, its feedback, and the diagnosis of each catalogued
mistake on each case.

Written against the mutants of grading/assignments/layers.py that the judging tests let through
(tools/mutation.py assignments --functions 'handprop.grading.assignments.layers.*'; docs/testing.md)."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from handprop.activations import ACTIVATIONS
from handprop.grading.assignments import ReturnedValue, get_assignment
from handprop.grading.assignments.layers import BACKWARDS
from handprop.grading.cases import Case
from handprop.grading.diagnose import TAGS

from assign_helpers import case_digest

# build_cases(seed=0, cases=3, hidden=1)'s arguments, hashed as the test below does, when they were
# first pinned (2026-12-08). Changing how cases are drawn changes every student's cases on a regrade:
# do it on purpose, say so in the changelog, and update this.
DIGEST_OF_SEED_0 = "30b956b01a8299a6"


# Function-scoped on purpose: mutmut credits the code a fixture runs to the first test that asks for it.
@pytest.fixture
def layers():
    return get_assignment("layers")


@pytest.fixture
def suite(layers):
    return layers.build_cases(seed=0, cases=3, hidden=1)


TOL = 1e-6


def judged(layers, case, value, rtol=1e-5):
    return layers.judge(case, ReturnedValue("ok", value=value), rtol)


# -- the cases ------------------------------------------------------------------------------------


def test_the_cases_of_a_seed_never_change(suite):
    """A regrade must meet the same cases: the drawn numbers of seed 0, to 12 digits."""
    assert case_digest(suite) == DIGEST_OF_SEED_0


def test_the_cases_are_numbered_from_one_described_and_the_last_hidden(suite):
    for function, cases in suite.items():
        assert [c.number for c in cases] == [1, 2, 3], function
        assert [c.hidden for c in cases] == [False, False, True], function
        for case in cases:
            if function in BACKWARDS or function == "softmax_cross_entropy":
                assert case.description == f"z of shape {case.args[1 if function in BACKWARDS else 0].shape}"
            else:
                x, W = (case.args[0], case.args[1]) if function == "linear_forward" else (case.args[1], case.args[2])
                assert case.description == f"x of shape {x.shape}, W of shape {W.shape}"


def test_the_drawn_numbers_keep_to_their_ranges(layers):
    """z ~ N(0, 3²) over 1 to 7 units and da ~ N(0, 1) for the activations' backward: over many cases
    each range is reached and never passed."""
    suite = layers.build_cases(seed=5, cases=60, hidden=0)
    cases = [c for f in BACKWARDS for c in suite[f]]
    z = np.concatenate([c.args[1].ravel() for c in cases])
    da = np.concatenate([c.args[0].ravel() for c in cases])
    assert abs(z.mean()) < 0.3 and 2.8 < z.std() < 3.2
    assert abs(da.mean()) < 0.1 and 0.93 < da.std() < 1.07
    assert {c.args[1].shape[1] for c in cases} == set(range(1, 8))


def test_each_backward_case_is_da_times_the_derivative(suite):
    for function, name in BACKWARDS.items():
        activation = ACTIVATIONS[name]
        for case in suite[function]:
            da, z = case.args
            np.testing.assert_array_equal(case.expected, da * activation.prime(z, activation(z)))


def test_the_arguments_are_the_template_s_parameters(layers):
    tree = ast.parse(layers.template())
    signatures = {f.name: tuple(a.arg for a in f.args.args) for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert {f: layers.arguments(f) for f in layers.functions} == {f: signatures[f] for f in layers.functions}


# -- the shape of a mistake -----------------------------------------------------------------------


def test_shape_tags(layers, suite):
    case = suite["linear_backward"][0]  # dz (3, 2), x (3, 6), W (2, 6)
    dz = case.args[0]
    assert layers.shape_tags(case, "dW", (6, 2), (2, 6)) == ("transposed",)
    assert layers.shape_tags(case, "z", (2, 3), (3, 2)) == ("transposed",)
    assert layers.shape_tags(case, "dx", (6, 3), (3, 6)) == ("wrong-shape",)  # dx transposed: only a wrong shape
    assert layers.shape_tags(case, "dW", (6, 3), (2, 6)) == ("wrong-shape",)
    assert layers.shape_tags(case, "db", dz.shape, (2,)) == ("bias-not-reduced",)
    assert layers.shape_tags(case, "db", (3,), (2,)) == ("wrong-shape",)
    assert layers.shape_tags(case, "dx", dz.shape, (3, 6)) == ("wrong-shape",)  # dz's shape, but not db


# -- the mistakes and the feedback ----------------------------------------------------------------


def test_the_mistakes_of_each_function(layers):
    assert {f: layers.mistakes(f) for f in layers.functions} == {
        "linear_forward": ("transposed",),
        "linear_backward": ("double-batch-mean", "transposed", "bias-not-reduced", "sign-flipped"),
        "sigmoid_backward": ("missing-activation-derivative", "derivative-of-activation-not-preactivation", "activation-instead-of-derivative"),
        "relu_backward": ("missing-activation-derivative", "activation-instead-of-derivative"),
        "tanh_backward": ("missing-activation-derivative", "derivative-of-activation-not-preactivation", "activation-instead-of-derivative"),
        "softmax_cross_entropy": ("missing-batch-mean", "sign-flipped", "missing-target", "output-derivative-not-cancelled"),
    }  # fmt: skip


def test_its_feedback_speaks_of_layers(layers):
    assert layers.sentences() == {
        **TAGS,
        "missing-batch-mean": "n times too large: the cost is the mean over the batch, so both C and dz carry a 1/n.",
        "double-batch-mean": "Your gradients are n times too small: dz already holds the 1/n of the batch mean, so do not divide by n again.",
        "transposed": "Transposed: dW has the shape of W, (out, in), i.e. dz.T @ x; and z = x @ W.T + b has one row per example.",
        "sign-flipped": "The sign is flipped: check softmax(z) − y versus y − softmax(z), and dz W, dzᵀ x, Σ dz.",
        "missing-activation-derivative": "σ′(z) is missing: dz = da ⊙ σ′(z).",
        "activation-instead-of-derivative": "σ(z) is used where σ′(z) belongs: dz = da ⊙ σ′(z) (for ReLU 1 where z > 0, else 0), not da ⊙ σ(z).",
        "missing-target": "The target is missing from dz: it is (softmax(z) − y)/n, not softmax(z)/n.",
        "output-derivative-not-cancelled": "With the cross-entropy the softmax's derivative cancels: dz = (softmax(z) − y)/n, with no extra p(1 − p) factor.",
    }  # fmt: skip


# -- reading a returned value ---------------------------------------------------------------------


def test_the_arrays_are_named_for_each_function(layers, suite):
    names = {f: list(layers.tensors(f, suite[f][0].expected)) for f in layers.functions}
    assert names == {
        "linear_forward": ["z"], "linear_backward": ["dx", "dW", "db"], "sigmoid_backward": ["dz"],
        "relu_backward": ["dz"], "tanh_backward": ["dz"], "softmax_cross_entropy": ["C", "dz"],
    }  # fmt: skip


def test_a_value_that_cannot_be_read_says_which_part(layers, suite):
    def message(function, value):
        with pytest.raises(ValueError) as info:
            layers.tensors(function, value)
        return str(info.value)

    dx, dW, db = suite["linear_backward"][0].expected
    assert message("sigmoid_backward", "s") == "the returned dz is a str, expected a NumPy array of numbers"
    assert message("linear_forward", "s") == "the returned z is a str, expected a NumPy array of numbers"
    assert message("linear_backward", (dx, dW)) == "linear_backward's result (dx, dW, db) must have 3 items, got 2"
    assert message("linear_backward", (dx, "w", db)) == "dW is a str, expected a NumPy array of numbers"
    assert message("softmax_cross_entropy", (1.0,)) == "softmax_cross_entropy's result (C, dz) must have 2 items, got 1"
    assert message("softmax_cross_entropy", ("c", dx)) == "the cost C is a str, expected a NumPy array of numbers"
    assert message("softmax_cross_entropy", (1.0, "d")) == "dz is a str, expected a NumPy array of numbers"
    assert message("softmax_cross_entropy", (np.ones(2), dx)) == "the cost C must be one number (the batch mean), got an array of shape (2,)"
    assert message("backprop", dx) == ("'backprop' is not a function of this assignment; expected one of linear_forward, linear_backward, "
                                       "sigmoid_backward, relu_backward, tanh_backward, softmax_cross_entropy")  # fmt: skip
    assert layers.tensors("softmax_cross_entropy", (np.array([[0.5]]), dx))["C"].shape == ()  # one number, any nesting


def test_a_wrong_shape_of_z_that_is_no_transpose_is_only_a_wrong_shape(layers, suite):
    case = suite["linear_forward"][0]  # z (3, 5)
    assert layers.shape_tags(case, "z", (5, 3), (3, 5)) == ("transposed",)
    assert layers.shape_tags(case, "z", (5, 4), (3, 5)) == ("wrong-shape",)
    assert layers.shape_tags(case, "dW", (3, 5, 1), (5, 3)) == ("wrong-shape",)


# -- the catalogue: what each mistake returns, and its bounds ---------------------------------------


def linear_case(function: str, n: int, inp: int, out: int, seed: int = 0) -> Case:
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(n, inp)), rng.normal(size=(out, inp)), rng.normal(size=out)
    if function == "linear_forward":
        return Case(function, 1, [x, W, b], x @ W.T + b, False, "")
    dz = rng.normal(size=(n, out)) / n
    return Case(function, 1, [dz, x, W], (dz @ W, dz.T @ x, dz.sum(axis=0)), False, "")


def test_the_catalogue_s_values_are_each_mistake_s_result(layers, suite):
    """What the redraw checks a case against, each written out here."""
    from handprop.grading.variants import DERIVATIVE_MISTAKES, prime

    def same(values, wanted):
        assert len(values) == len(wanted)
        for v, w in zip(values, wanted):
            for a, b in zip(v if isinstance(v, tuple) else (v,), w if isinstance(w, tuple) else (w,)):
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)

    square = linear_case("linear_forward", 4, 3, 4)
    same(layers.mistaken_values(square), [square.expected.T])
    assert layers.mistaken_values(linear_case("linear_forward", 4, 3, 5)) == []
    backward = linear_case("linear_backward", 5, 3, 3)  # dW square
    dx, dW, db = backward.expected
    same(layers.mistaken_values(backward), [(dx, dW / 5, db / 5), (-dx, -dW, -db), (dx, dW.T, db)])
    wide = linear_case("linear_backward", 5, 3, 4)
    dx, dW, db = wide.expected
    same(layers.mistaken_values(wide), [(dx, dW / 5, db / 5), (-dx, -dW, -db)])
    for function, name in BACKWARDS.items():
        case = suite[function][0]
        da, z = case.args
        a = ACTIVATIONS[name](z)
        same(layers.mistaken_values(case), [da * prime(name, kind, z, a) for kind in DERIVATIVE_MISTAKES[name]])
    ce = suite["softmax_cross_entropy"][0]
    z, y = ce.args
    cost, dz = ce.expected
    n = z.shape[0]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    same(layers.mistaken_values(ce), [(cost, n * dz), (cost, -dz), (cost, p / n), (cost, (p - y) * p * (1 - p) / n)])


def test_a_transposed_z_is_named_only_when_it_is_the_transpose(layers):
    case = linear_case("linear_forward", 4, 3, 4)
    z = case.expected
    assert judged(layers, case, z.T.copy()).tags == ["transposed"]
    assert "transposed" not in judged(layers, case, z + 0.3).tags
    (mistake,) = layers.catalogue(case)
    wide = np.ones((3, 4))
    assert mistake.recognise({"z": wide}, {"z": wide}, 1e-6) == []  # not square: nothing to transpose


def test_a_transposed_z_exactly_at_the_tolerance_is_named(layers, monkeypatch):
    from handprop.grading.assignments import layers as module

    case = linear_case("linear_forward", 4, 3, 4)
    (mistake,) = layers.catalogue(case)
    z = {"z": case.expected}
    monkeypatch.setattr(module, "relative_error", lambda g, e: TOL)
    assert mistake.recognise(z, z, TOL) == [("transposed",)]
    monkeypatch.setattr(module, "relative_error", lambda g, e: 1.01 * TOL)
    assert mistake.recognise(z, z, TOL) == []


def test_a_transposed_dw_needs_dx_and_db_right(layers):
    case = linear_case("linear_backward", 5, 3, 3)
    dx, dW, db = case.expected
    _, transposed = layers.catalogue(case)
    expected = layers.tensors("linear_backward", case.expected)

    def names(value):
        return transposed.recognise(layers.tensors("linear_backward", value), expected, 1e-6)

    assert names((dx, dW.T.copy(), db)) == [("transposed",)]
    assert names((dx + 1, dW.T.copy(), db)) == []
    assert names((dx, dW.T.copy(), db + 1)) == []
    symmetric = dW + dW.T
    sym_case = Case("linear_backward", 1, case.args, (dx, symmetric, db), False, "")
    assert transposed.recognise(layers.tensors("linear_backward", (dx, symmetric, db)), layers.tensors("linear_backward", sym_case.expected), 1e-6) == []



def test_a_transposed_dw_exactly_at_the_tolerance_is_named(layers, monkeypatch):
    from handprop.grading.assignments import layers as module

    case = linear_case("linear_backward", 5, 3, 3)
    _, transposed = layers.catalogue(case)
    got = layers.tensors("linear_backward", case.expected)

    def on_the_line(to_transpose, to_original, others):
        def error(g, e):
            if e.ndim == 2 and not e.flags.c_contiguous:
                return to_transpose
            return to_original if g.shape == e.shape == (3, 3) else others
        return error

    monkeypatch.setattr(module, "relative_error", on_the_line(TOL, 2 * TOL, TOL))
    assert transposed.recognise(got, got, TOL) == [("transposed",)]
    for off in [(1.01 * TOL, 2 * TOL, TOL), (TOL, TOL, TOL), (TOL, 2 * TOL, 1.01 * TOL)]:
        monkeypatch.setattr(module, "relative_error", on_the_line(*off))
        assert transposed.recognise(got, got, TOL) == [], off

    def dx_or_db_off(which):
        def error(g, e):
            if e.ndim == 2 and not e.flags.c_contiguous:
                return TOL
            if g.shape == e.shape == (3, 3):
                return 2 * TOL
            return 1.01 * TOL if (e.ndim == 1) == (which == "db") else TOL
        return error

    for which in ("dx", "db"):
        monkeypatch.setattr(module, "relative_error", dx_or_db_off(which))
        assert transposed.recognise(got, got, TOL) == [], which


def test_a_missing_target_needs_the_cost_right_and_may_miss_the_batch_mean_too(layers, suite, monkeypatch):
    from handprop.grading.assignments import layers as module

    ce = suite["softmax_cross_entropy"][0]
    z, _ = ce.args
    cost, dz = ce.expected
    n = z.shape[0]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert judged(layers, ce, (cost, p / n)).tags == ["missing-target"]
    assert judged(layers, ce, (cost, p)).tags == ["missing-batch-mean", "missing-target"]
    missing_target = layers.catalogue(ce)[1]
    expected = layers.tensors("softmax_cross_entropy", ce.expected)
    assert missing_target.recognise(layers.tensors("softmax_cross_entropy", (cost + 1, p / n)), expected, TOL) == []
    monkeypatch.setattr(module, "relative_error", lambda g, e: TOL)  # the cost exactly at the line
    got = layers.tensors("softmax_cross_entropy", (cost, p / n))
    assert missing_target.recognise(got, expected, TOL) == [("missing-target",)]
    monkeypatch.setattr(module, "relative_error", lambda g, e: 1.01 * TOL)
    assert missing_target.recognise(got, expected, TOL) == []

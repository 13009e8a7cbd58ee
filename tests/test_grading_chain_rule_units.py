"""The chain-rule assignment piece by piece: its cases (checked against the chain rule written out
independently, chain_variant), the names of its arguments and arrays, its feedback, and the
diagnosis of every catalogued mistake on every case.

Written against the mutants of grading/assignments/chain_rule.py that the judging tests let through
(tools/mutation.py assignments --functions 'handprop.grading.assignments.chain_rule.*'; docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest

from handprop.grading.assignments import ReturnedValue, get_assignment
from handprop.grading.assignments.chain_rule import GRADIENT_NAMES, chain_variant

from assign_helpers import case_digest


# Function-scoped on purpose: mutmut credits the code a fixture runs to the first test that asks for
# it, so a module-scoped suite would hide make_case from every other test here.
@pytest.fixture
def chain():
    return get_assignment("chain-rule")


@pytest.fixture
def suite(chain):
    return chain.build_cases(seed=11, cases=6, hidden=2)


# build_cases(seed=0, cases=3, hidden=1)'s arguments, hashed as the test below does, when they were
# first drawn (2026-12-08). Changing how cases are drawn changes every student's cases on a regrade:
# do it on purpose, say so in the changelog, and update this.
DIGEST_OF_SEED_0 = "f44cf693718459ac"


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_the_cases_have_two_to_four_layers_numbered_from_one_and_hide_the_last(suite):
    for function, cases in suite.items():
        assert [c.number for c in cases] == [1, 2, 3, 4, 5, 6]
        assert [len(c.args[0]) for c in cases] == [2, 3, 4, 2, 3, 4]
        assert [c.hidden for c in cases] == [False] * 4 + [True] * 2
        assert [len(c.args) for c in cases] == ([3] * 6 if function == "chain_forward" else [4] * 6)


def test_a_forward_case_is_the_chain_of_sigmoids(suite):
    for case in suite["chain_forward"]:
        w, b, x = case.args
        a = [x]
        for l in range(len(w)):
            a.append(sigmoid(w[l] * a[-1] + b[l]))
        np.testing.assert_allclose(case.expected, a, rtol=1e-14, atol=0)
        assert case.description == f"L = {len(w)}, x = {x:.3g}"


def test_a_gradient_case_is_the_chain_rule_written_out(suite):
    """The engine's network of one-unit layers, doubled for the video's C₀ = (a − y)², equals the
    chain rule term by term (chain_variant with σ′(z))."""
    for case in suite["chain_gradients"]:
        w, b, x, y = case.args
        for got, expected in zip(case.expected, chain_variant(w, b, x, y, "z")):
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
        assert [part.shape for part in case.expected] == [(len(w),), (len(w),), (len(w) + 1,)]
        assert case.description == f"L = {len(w)}, x = {x:.3g}, y = {y:.3g}"


def test_the_correct_chain_rule_is_the_default(suite):
    w, b, x, y = suite["chain_gradients"][0].args
    for default, correct in zip(chain_variant(w, b, x, y), chain_variant(w, b, x, y, "z")):
        assert np.array_equal(default, correct)


def test_the_cases_of_a_seed_never_change():
    """A regrade must meet the same cases: the drawn numbers of seed 0, to 12 digits."""
    assert case_digest(get_assignment("chain-rule").build_cases(seed=0, cases=3, hidden=1)) == DIGEST_OF_SEED_0


def test_the_chain_rule_by_hand_matches_central_differences():
    w, b, x, y = np.array([0.7, -1.2, 0.4]), np.array([0.1, 0.3, -0.5]), 0.6, 0.2

    def cost(w, b, x):
        a = x
        for l in range(len(w)):
            a = sigmoid(w[l] * a + b[l])
        return (a - y) ** 2

    dw, db, da = chain_variant(w, b, x, y, "z")
    h = 1e-6
    for l in range(3):
        e = np.eye(3)[l] * h
        assert abs(dw[l] - (cost(w + e, b, x) - cost(w - e, b, x)) / (2 * h)) < 1e-8
        assert abs(db[l] - (cost(w, b + e, x) - cost(w, b - e, x)) / (2 * h)) < 1e-8
    assert abs(da[0] - (cost(w, b, x + h) - cost(w, b, x - h)) / (2 * h)) < 1e-8
    a_L = sigmoid(w[2] * sigmoid(w[1] * sigmoid(w[0] * x + b[0]) + b[1]) + b[2])
    assert da[3] == pytest.approx(2 * (a_L - y), rel=1e-14)


def test_the_arguments_are_named(chain):
    assert chain.arguments("chain_forward") == ("w", "b", "x")
    assert chain.arguments("chain_gradients") == ("w", "b", "x", "y")


def test_the_arrays_are_named_and_counted(chain, suite):
    case = suite["chain_gradients"][0]
    assert list(chain.tensors("chain_gradients", case.expected)) == list(GRADIENT_NAMES) == ["∂C₀/∂w", "∂C₀/∂b", "∂C₀/∂a"]
    assert list(chain.tensors("chain_forward", suite["chain_forward"][0].expected)) == ["a"]
    with pytest.raises(ValueError) as info:
        chain.tensors("chain_gradients", case.expected[:2])
    assert str(info.value) == "chain_gradients' result (dC0_dw, dC0_db, dC0_da) must have 3 items, got 2"
    with pytest.raises(ValueError) as info:
        chain.tensors("backprop", case.expected)
    assert str(info.value) == "'backprop' is not a function of this assignment; expected one of chain_forward, chain_gradients"
    with pytest.raises(ValueError) as info:
        chain.tensors("chain_gradients", (case.expected[0], "b", case.expected[2]))
    assert str(info.value) == "∂C₀/∂b is a str, expected a NumPy array of numbers"
    with pytest.raises(ValueError) as info:
        chain.tensors("chain_forward", "a")
    assert str(info.value) == "the returned activations is a str, expected a NumPy array of numbers"


def test_the_mistakes_it_can_name(chain):
    assert chain.mistakes("chain_forward") == ("reversed-order",)
    assert chain.mistakes("chain_gradients") == (
        "sign-flipped", "factor-2", "missing-activation-derivative", "derivative-of-activation-not-preactivation", "reversed-order",
    )  # fmt: skip


def test_its_feedback_speaks_of_the_video_s_cost(chain):
    s = chain.sentences()
    assert s["factor-2"] == "Off by a factor of 2: the video's cost C₀ = (a⁽ᴸ⁾ − y)² has no ½, so ∂C₀/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y)."
    assert s["sign-flipped"] == "The sign is flipped: ∂C₀/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y), not 2(y − a⁽ᴸ⁾)."
    assert s["missing-activation-derivative"] == "σ′(z⁽ˡ⁾) is missing from a link of the chain: ∂C₀/∂w⁽ˡ⁾ = a⁽ˡ⁻¹⁾ σ′(z⁽ˡ⁾) ∂C₀/∂a⁽ˡ⁾."
    assert "transposed" in s  # the rest are the shared TAGS


def judged(chain, case, value):
    return chain.judge(case, ReturnedValue("ok", value=value), 1e-5)


@pytest.mark.parametrize("k", range(6))
def test_each_mistake_is_named_on_each_case(chain, suite, k):
    forward, gradients = suite["chain_forward"][k], suite["chain_gradients"][k]
    assert judged(chain, forward, forward.expected).passed
    assert judged(chain, forward, forward.expected[::-1].copy()).tags == ["reversed-order"]
    assert judged(chain, gradients, gradients.expected).passed
    parts = gradients.expected
    assert judged(chain, gradients, tuple(p[::-1].copy() for p in parts)).tags == ["reversed-order"]
    assert judged(chain, gradients, tuple(-p for p in parts)).tags == ["sign-flipped"]
    assert judged(chain, gradients, tuple(2 * p for p in parts)).tags == ["factor-2"]
    assert judged(chain, gradients, tuple(0.5 * p for p in parts)).tags == ["factor-2"]
    w, b, x, y = gradients.args
    assert judged(chain, gradients, chain_variant(w, b, x, y, "none")).tags == ["missing-activation-derivative"]
    for kind in ("a", "formula-on-z"):
        assert judged(chain, gradients, chain_variant(w, b, x, y, kind)).tags == ["derivative-of-activation-not-preactivation"]


def test_a_wrong_answer_that_is_no_catalogued_mistake_is_only_wrong(chain, suite):
    case = suite["chain_gradients"][1]
    verdict = judged(chain, case, tuple(p + 0.37 for p in case.expected))
    assert not verdict.passed
    assert not {"reversed-order", "sign-flipped", "factor-2", "missing-activation-derivative"} & set(verdict.tags)


def test_the_catalogue_s_values_are_each_mistake_s_result(chain, suite):
    """What the redraw checks a case against: each catalogued mistake's result on it."""
    forward = suite["chain_forward"][0]
    (reversed_forward,) = chain.mistaken_values(forward)
    assert np.array_equal(reversed_forward, forward.expected[::-1])
    case = suite["chain_gradients"][2]
    values = chain.mistaken_values(case)
    w, b, x, y = case.args
    wanted = [tuple(p[::-1] for p in case.expected)] + [tuple(s * p for p in case.expected) for s in (-1.0, 2.0, 0.5)]
    wanted += [chain_variant(w, b, x, y, kind) for kind in ("none", "a", "formula-on-z")]
    assert len(values) == len(wanted)
    for got, expected in zip(values, wanted):
        assert all(np.array_equal(g, e) for g, e in zip(got, expected))


def test_a_reversal_exactly_at_the_tolerance_is_named(chain, suite, monkeypatch):
    from handprop.grading.assignments import chain_rule

    case = suite["chain_forward"][0]
    monkeypatch.setattr(chain_rule, "relative_error", lambda got, expected: 1e-4)
    assert chain.explain(case, {"a": case.expected}, {"a": case.expected}, 1e-4) == [("reversed-order",)]

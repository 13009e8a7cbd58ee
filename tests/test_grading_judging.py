"""The judging of one value, in this process: pass or fail on the relative error, and a mistake that
only shows in the values (bias-not-reduced when the batch is as large as the output layer).

A value passes when max|got − expected| ≤ rtol · max|expected| (docs/grading.md): these tests put
results just either side of that line, and one that is right in absolute terms but wrong in relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from handprop.grading import GradingConfig, get_assignment
from handprop.grading.assignments import ReturnedValue
from handprop.grading.cases import Case
from handprop.network import Network

RTOL = GradingConfig().rtol  # the grader's default


def sigmoid_case(z: np.ndarray) -> Case:
    return Case("sigmoid", 1, [z], 1 / (1 + np.exp(-z)), False, f"z of shape {z.shape}")


def judge(case: Case, value, rtol: float = RTOL):
    return get_assignment("network").judge(case, ReturnedValue("ok", value=value), rtol)


@pytest.mark.parametrize("factor, passes", [(1 + 0.5 * RTOL, True), (1 - 0.9 * RTOL, True), (1 + 2 * RTOL, False), (1 - 1.5 * RTOL, False)])
def test_a_result_passes_exactly_when_its_relative_error_is_within_rtol(factor, passes):
    case = sigmoid_case(np.random.default_rng(0).normal(0.0, 2.0, (4, 3)))
    verdict = judge(case, case.expected * factor)
    assert verdict.passed is passes
    assert verdict.error == pytest.approx(abs(factor - 1), rel=1e-6)
    if not passes:
        assert f"(tolerance {RTOL:g})" in verdict.message


@pytest.mark.parametrize("rtol", [1e-3, 1e-8])
def test_the_tolerance_asked_for_is_the_one_applied(rtol):
    case = sigmoid_case(np.random.default_rng(1).normal(0.0, 2.0, (4, 3)))
    assert judge(case, case.expected * (1 + 0.5 * rtol), rtol).passed
    assert not judge(case, case.expected * (1 + 2 * rtol), rtol).passed


def test_right_in_absolute_terms_but_wrong_in_relative_terms_fails():
    """σ(−30) ≈ 1e-13: twice that is off by 1e-13 in absolute terms, far below rtol, yet 100 % wrong."""
    case = sigmoid_case(np.random.default_rng(2).uniform(-32.0, -28.0, (3, 4)))
    assert np.abs(case.expected).max() < 1e-11
    verdict = judge(case, 2 * case.expected)
    assert not verdict.passed and verdict.error == pytest.approx(1.0)
    assert judge(case, case.expected * (1 + 0.5 * RTOL)).passed  # the same tiny values, right: passes


def test_wrong_in_absolute_terms_but_right_in_relative_terms_passes():
    case = sigmoid_case(np.random.default_rng(3).normal(0.0, 2.0, (4, 3)))
    big = Case(case.function, 1, case.args, case.expected * 1e8, False, case.description)  # scale 1e8
    verdict = judge(big, big.expected + 1e8 * 0.5 * RTOL)  # off by 500 everywhere, 0.5 rtol of the scale
    assert verdict.passed


def _bias_case(function: str):
    """A network case whose batch is as large as its output layer (n = out = 5): δᴸ is square, so
    biases summed over the units instead of the examples have the right shape, and only the values
    tell the mistake apart."""
    rng = np.random.default_rng(4)
    sizes = [4, 3, 5]
    weights = [rng.normal(0, 1, (o, i)) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 1, o) for o in sizes[1:]]
    x = rng.uniform(0, 1, (5, 4))  # (n, in)
    y = np.eye(5)[[0, 3, 1, 4, 2]]  # (n, out)
    net = Network.from_parameters(weights, biases, hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")
    nabla_w, nabla_b = net.backprop(x, y)
    # δᴸ written out for the mean quadratic cost and sigmoid output: (a − y) ⊙ a(1 − a) / n
    a1 = 1 / (1 + np.exp(-(x @ weights[0].T + biases[0])))  # (n, 3)
    a2 = 1 / (1 + np.exp(-(a1 @ weights[1].T + biases[1])))  # (n, 5)
    delta = (a2 - y) * a2 * (1 - a2) / 5  # (n, out)
    np.testing.assert_allclose(delta.sum(axis=0), nabla_b[1], rtol=1e-12)  # the written-out δ is the engine's
    wrong_b = [nabla_b[0], delta.sum(axis=1)]  # summed over the units: shape (5,) = (out,) since n = out
    if function == "backprop":
        return Case("backprop", 1, [weights, biases, x, y], (nabla_w, nabla_b), False, "n = out"), (nabla_w, wrong_b)
    eta = 0.7
    step = lambda ps, gs: [p - eta * g for p, g in zip(ps, gs)]  # noqa: E731
    case = Case("update_mini_batch", 1, [weights, biases, x, y, eta], (step(weights, nabla_w), step(biases, nabla_b)), False, "n = out")
    return case, (step(weights, nabla_w), step(biases, wrong_b))


@pytest.mark.parametrize("function", ["backprop", "update_mini_batch"])
def test_biases_summed_over_the_units_are_diagnosed_by_value(function):
    case, wrong = _bias_case(function)
    assert judge(case, case.expected).passed
    verdict = judge(case, wrong)
    assert not verdict.passed and verdict.tags == ["bias-not-reduced"]
    assert "summed over the examples (axis 0)" in verdict.message

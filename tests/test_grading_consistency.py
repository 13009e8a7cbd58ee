"""Self-consistency (issue 20): a wrong gradient that is the correct derivative of the student's own
forward pass is tagged forward-wrong-backprop-consistent; a catalogued backprop mistake never is."""

from __future__ import annotations

import dataclasses

import pytest

from handprop.grading import grade_source
from handprop.grading.assignments import get_assignment
from handprop.grading.cases import Case, sandbox_calls
from handprop.grading.consistency import TAG, plan, review
from handprop.grading.features import CourseFeatures
from handprop.grading.sandbox import CaseRun, FunctionRun

from assign_helpers import LAYERS_SOURCE, call, judge_source, load, mutate, network_mistake, network_source
from grading_helpers import REFERENCE, fast_config

TANH_EVERYWHERE = mutate(
    REFERENCE, ("return 1.0 / (1.0 + np.exp(-z))", "return np.tanh(z)"), ("return sigmoid(z) * (1 - sigmoid(z))", "return 1 - np.tanh(z) ** 2")
)


def run_here(module, calls):
    """What the sandbox would hand back for ``calls``, run in this process (trusted test code)."""
    runs = {}
    for c in calls:
        returned = call(module, Case(c.function, c.number, c.args, None, False, ""))
        runs.setdefault(c.function, FunctionRun("ran")).cases[c.number] = CaseRun(**vars(returned))
    return runs


def diagnose(assignment, source, cases=4):
    """The grader's verdicts after the self-consistency review, every call run in this process."""
    suite = assignment.build_cases(seed=3, cases=cases, hidden=0)
    module = load(source)
    verdicts = judge_source(assignment, source, suite)
    runs = run_here(module, sandbox_calls(suite))
    probes = plan(assignment, suite, verdicts)
    review(assignment, suite, verdicts, runs, probes, run_here(module, probes.calls))
    return verdicts


def test_tanh_everywhere_is_a_consistent_backprop_of_a_wrong_forward():
    verdicts = diagnose(get_assignment("network"), TANH_EVERYWHERE)
    assert all(v.tags == [TAG] and "correct derivative of your forward pass" in v.message for v in verdicts["backprop"])
    assert all(not v.passed and TAG not in v.tags for v in verdicts["feedforward"])


@pytest.mark.parametrize("tag", get_assignment("network").mistakes("backprop"))
def test_no_catalogued_backprop_mistake_is_called_consistent(tag):
    verdicts = diagnose(get_assignment("network"), mutate(network_source(), *network_mistake(tag)))
    assert all(not v.passed and TAG not in v.tags for v in verdicts["backprop"]), [v.tags for v in verdicts["backprop"]]


@pytest.mark.parametrize("options", [{"hidden": "relu", "output": "softmax", "cost": "cross_entropy"}, {"hidden": "tanh", "output": "sigmoid", "cost": "cross_entropy"}])
def test_the_correct_submission_passes_and_a_scaled_forward_is_consistent_for_other_costs(options):
    assignment = get_assignment("network", **options)
    source = network_source(*options.values())
    assert all(v.passed and not v.tags for v in diagnose(assignment, source)["backprop"])
    # Doubling every input in feedforward and backprop alike: a wrong forward, differentiated right.
    doubled = source.replace("def feedforward(weights, biases, x):\n", "def feedforward(weights, biases, x):\n    x = 2 * x\n")
    doubled = doubled.replace("def backprop(weights, biases, x, y):\n", "def backprop(weights, biases, x, y):\n    x = 2 * x\n")
    assert doubled.count("x = 2 * x") == 2
    assert all(v.tags == [TAG] for v in diagnose(assignment, doubled)["backprop"])


def test_layers_linear_backward_and_softmax_cross_entropy_against_their_own_forward():
    assignment = get_assignment("layers")
    scaled = mutate(LAYERS_SOURCE, ("    return x @ W.T + b\n", "    return 3 * (x @ W.T) + b\n"))
    scaled = scaled.replace("    dx = dz @ W\n", "    dx = 3 * dz @ W\n").replace("    dW = dz.T @ x\n", "    dW = 3 * dz.T @ x\n")
    assert scaled.count("3 * dz") == 2, scaled
    verdicts = diagnose(assignment, scaled)
    assert all(v.tags == [TAG] for v in verdicts["linear_backward"])
    assert all(v.passed for v in diagnose(assignment, LAYERS_SOURCE)["linear_backward"])
    # softmax_cross_entropy: C and dz both without the mean are consistent; dz alone without it is not.
    both = mutate(LAYERS_SOURCE, ("cost = -np.sum(y * np.log(p)) / n", "cost = -np.sum(y * np.log(p))"), ("dz = (p - y) / n", "dz = p - y"))
    assert all(v.tags == [TAG] for v in diagnose(assignment, both)["softmax_cross_entropy"])
    dz_only = mutate(LAYERS_SOURCE, ("dz = (p - y) / n", "dz = p - y"))
    assert all(not v.passed and TAG not in v.tags for v in diagnose(assignment, dz_only)["softmax_cross_entropy"])


def test_probes_only_for_failed_gradient_cases():
    assignment = get_assignment("network")
    suite = assignment.build_cases(seed=3, cases=4, hidden=0)
    correct = judge_source(assignment, network_source(), suite)
    assert plan(assignment, suite, correct).calls == []  # a correct submission costs no probe at all
    wrong = judge_source(assignment, TANH_EVERYWHERE, suite)
    calls = plan(assignment, suite, wrong).calls
    assert len(calls) == 4 * 3 * 2 and {c.function for c in calls} == {"feedforward"}
    timed_out = {"feedforward": FunctionRun("timeout", "did not return in time")}
    assert plan(assignment, suite, wrong, timed_out).calls == []  # a forward that timed out is not run again


def test_graded_in_the_sandbox_with_partial_credit():
    report = grade_source(TANH_EVERYWHERE.encode(), fast_config())
    assert report.functions["backprop"].tags == [TAG] and report.functions["backprop"].score == 0
    credited = grade_source(TANH_EVERYWHERE.encode(), dataclasses.replace(fast_config(), features=CourseFeatures(consistency_credit=0.5)))
    assert credited.functions["backprop"].score == pytest.approx(2.0)
    assert all(t.score == pytest.approx(0.4) for t in credited.tests if t.function == "backprop")
    assert credited.score == pytest.approx(2.0)
    correct = grade_source(REFERENCE.encode(), fast_config())
    assert correct.score == 10 and all(not t.tags for t in correct.tests)

"""A correct submission gets full marks and no tags; each known mistake gets exactly its tag."""

from __future__ import annotations

import numpy as np
import pytest

from handprop.grading import TAGS, grade_source
from handprop.grading import get_assignment
from handprop.grading.cases import build_cases, sandbox_calls
from handprop.grading.diagnose import explain_scale, fitted_scale

from grading_helpers import REFERENCE, fast_config, mutate

# tag -> textual changes turning the reference into a submission with exactly that mistake in backprop
BACKPROP_MISTAKES = {
    "missing-batch-mean": [("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])")],
    "missing-target": [("(activations[-1] - y)", "activations[-1]")],
    "double-batch-mean": [("delta.sum(axis=0)", "delta.mean(axis=0)")],
    "transposed": [("delta.T @ activations[-2]", "activations[-2].T @ delta"), ("delta.T @ activations[-l - 1]", "activations[-l - 1].T @ delta")],
    "sign-flipped": [("(activations[-1] - y)", "(y - activations[-1])")],
    "factor-2": [("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1]) * 2 / n")],
    "missing-activation-derivative": [("* sigmoid_prime(zs[-1]) / n", "/ n")],
    "derivative-of-activation-not-preactivation": [("sigmoid_prime(zs[-l])", "sigmoid_prime(activations[-l])"), ("sigmoid_prime(zs[-1])", "sigmoid_prime(activations[-1])")],
    "activation-instead-of-derivative": [("sigmoid_prime(zs[-l])", "sigmoid(zs[-l])")],  # examples/learner_sigma_mistake.py
    "bias-not-reduced": [("delta.sum(axis=0)", "delta")],
    "wrong-shape": [("delta.sum(axis=0)", "delta.sum(axis=0).reshape(-1, 1)")],
    "nan-or-inf": [("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1]) / (n - n)")],
    "exception": [("zs.append(z)", "zs.append(z, a)")],
    "timeout": [("    n = x.shape[0]\n", "    n = x.shape[0]\n    while True:\n        pass\n")],
    "missing-function": [("def backprop(", "def back_prop(")],
}


@pytest.fixture(scope="module")
def reference_report():
    return grade_source(REFERENCE.encode(), fast_config())


def test_reference_scores_full_marks_without_tags(reference_report):
    assert reference_report.score == pytest.approx(reference_report.max_score)
    assert all(t.passed and t.tags == [] for t in reference_report.tests)


def test_every_tag_of_the_default_backprop_has_a_mutation_run_through_the_sandbox():
    run_level = {"nan-or-inf", "exception", "timeout", "missing-function", "wrong-shape"}
    assert set(BACKPROP_MISTAKES) == set(get_assignment().mistakes("backprop")) | run_level


@pytest.fixture(scope="module")
def mistake_report():
    """The report of the submission with each mistake, graded once for the tests that read it."""
    reports = {}

    def report(tag):
        if tag not in reports:
            timeout = 1.0 if tag == "timeout" else 3.0
            reports[tag] = grade_source(mutate(REFERENCE, *BACKPROP_MISTAKES[tag]).encode(), fast_config(timeout=timeout))
        return reports[tag]

    return report


@pytest.mark.parametrize("tag", sorted(BACKPROP_MISTAKES))
def test_mistake_is_scored_down_and_tagged(tag, mistake_report):
    report = mistake_report(tag)
    backprop = report.functions["backprop"]
    assert backprop.score < backprop.max_score
    failed = [t for t in report.tests if t.function == "backprop" and not t.passed]
    assert failed and all(t.tags == [tag] for t in failed), [(t.name, t.tags, t.output) for t in failed]
    assert all(t.tags == [] for t in report.tests if t.passed)
    for function in ("sigmoid", "sigmoid_prime", "feedforward"):  # untouched functions keep full marks
        assert report.functions[function].score == pytest.approx(report.functions[function].max_score)
    assert TAGS[tag] in failed[0].output


@pytest.mark.parametrize("tag", ["missing-batch-mean", "sign-flipped", "derivative-of-activation-not-preactivation"])
def test_update_mini_batch_inherits_the_backprop_diagnosis(tag, mistake_report):
    report = mistake_report(tag)
    failed = [t for t in report.tests if t.function == "update_mini_batch" and not t.passed]
    assert failed and all(t.tags == [tag] for t in failed)
    assert "Your backprop has this mistake too" in failed[0].output


def test_update_step_in_the_wrong_direction_is_sign_flipped():
    source = mutate(REFERENCE, ("w - eta * nw", "w + eta * nw"), ("b - eta * nb", "b + eta * nb"))
    report = grade_source(source.encode(), fast_config())
    assert report.functions["backprop"].score == report.functions["backprop"].max_score
    failed = [t for t in report.tests if t.function == "update_mini_batch" and not t.passed]
    assert len(failed) == len([t for t in report.tests if t.function == "update_mini_batch"])
    assert all(t.tags == ["sign-flipped"] for t in failed)


def test_sigmoid_prime_of_the_activation_is_diagnosed_and_propagates():
    source = mutate(REFERENCE, ("return sigmoid(z) * (1 - sigmoid(z))", "return z * (1 - z)"))
    report = grade_source(source.encode(), fast_config())
    tag = "derivative-of-activation-not-preactivation"
    for function in ("sigmoid_prime", "backprop"):
        failed = [t for t in report.tests if t.function == function and not t.passed]
        assert failed and all(t.tags == [tag] for t in failed), (function, [t.tags for t in failed])
    assert "Your sigmoid_prime has this mistake too" in next(t for t in report.tests if t.function == "backprop" and not t.passed).output


def test_feedforward_returning_columns_is_transposed():
    source = mutate(REFERENCE, ("        a = sigmoid(a @ w.T + b)\n    return a", "        a = sigmoid(a @ w.T + b)\n    return a.T"))
    report = grade_source(source.encode(), fast_config())
    failed = [t for t in report.tests if t.function == "feedforward" and not t.passed]
    assert failed and all(t.tags == ["transposed"] for t in failed)


def test_sigmoid_with_wrong_values_fails_without_a_made_up_tag():
    source = mutate(REFERENCE, ("return 1.0 / (1.0 + np.exp(-z))", "return 1.0 / (1.0 + np.exp(-z)) + 1e-3"))
    report = grade_source(source.encode(), fast_config())
    failed = [t for t in report.tests if t.function == "sigmoid"]
    assert all(not t.passed and t.tags == [] for t in failed)
    assert "Largest error" in failed[0].output


FLOAT32 = ("    n = x.shape[0]\n", "    n = x.shape[0]\n    x, y = x.astype(np.float32), y.astype(np.float32)\n"
           "    weights = [w.astype(np.float32) for w in weights]\n    biases = [b.astype(np.float32) for b in biases]\n")


def test_a_float32_computation_passes_within_the_default_tolerance():
    report = grade_source(mutate(REFERENCE, FLOAT32).encode(), fast_config(cases=10))
    assert report.functions["backprop"].score == report.functions["backprop"].max_score


def test_a_float32_computation_with_a_mistake_is_still_diagnosed():
    source = mutate(REFERENCE, FLOAT32, *BACKPROP_MISTAKES["missing-batch-mean"])
    report = grade_source(source.encode(), fast_config())
    failed = [t for t in report.tests if t.function == "backprop" and not t.passed]
    assert failed and all(t.tags == ["missing-batch-mean"] for t in failed)


@pytest.mark.parametrize(
    "scale, n, expected",
    [(1.0, 5, [()]), (5.0, 5, [("missing-batch-mean",)]), (0.2, 5, [("double-batch-mean",)]), (-1.0, 3, [("sign-flipped",)]),
     (2.0, 3, [("factor-2",)]), (0.5, 3, [("factor-2",)]), (-4.0, 4, [("missing-batch-mean", "sign-flipped")]),
     (2.0, 2, [("missing-batch-mean",), ("factor-2",)]), (1.7, 4, [])],
)  # fmt: skip
def test_explain_scale(scale, n, expected):
    assert explain_scale(scale, n) == expected


def test_fitted_scale_requires_proportionality():
    rng = np.random.default_rng(0)
    g = [rng.normal(size=(3, 4)), rng.normal(size=3)]
    assert fitted_scale([-2.5 * a for a in g], g) == pytest.approx(-2.5)
    assert fitted_scale([a + 0.01 for a in g], g) is None


def test_hidden_cases_carry_the_hidden_visibility():
    report = grade_source(REFERENCE.encode(), fast_config(hidden=2, hidden_visibility="hidden"))
    for function in report.functions:
        visibilities = [t.visibility for t in report.tests if t.function == function]
        assert visibilities == ["visible"] * 3 + ["hidden"] * 2


def test_cases_are_seeded_and_varied():
    a, b = build_cases(fast_config(seed=3)), build_cases(fast_config(seed=3))
    assert all(np.array_equal(x.args[2], y.args[2]) for x, y in zip(a["backprop"], b["backprop"]))
    cases = a["backprop"]
    assert min(c.args[2].shape[0] for c in cases) >= 3 and {len(c.args[0]) for c in cases} == {2, 3, 4}
    assert any(w.shape[0] != w.shape[1] for c in cases for w in c.args[0])
    assert any(all(w.shape[0] == w.shape[1] for w in c.args[0]) for c in cases)
    assert not np.array_equal(build_cases(fast_config(seed=4))["backprop"][0].args[2], cases[0].args[2])


def test_sandbox_calls_hold_no_expected_values():
    suite = build_cases(fast_config())
    sent = [a for call in sandbox_calls(suite) for arg in call.args for a in (arg if isinstance(arg, list) else [arg])]
    assignment = get_assignment()
    expected = [e for cases in suite.values() for c in cases for e in assignment.tensors(c.function, c.expected).values()]
    assert sent and len(sent) > len(suite)
    for value in sent:
        assert not any(np.shape(value) == e.shape and np.array_equal(value, e) for e in expected)


@pytest.mark.parametrize(
    "changes, tags",
    [
        ([("delta.sum(axis=0)", "delta.sum(axis=0, keepdims=True)")], ["wrong-shape"]),  # (1, out), also at n = 1
        ([("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1]) * 2")], ["missing-batch-mean", "factor-2"]),
        ([("* sigmoid_prime(zs[-1]) / n", "/ n"), ("* sigmoid_prime(zs[-l])", "")], ["missing-activation-derivative"]),
        ([("    return nabla_w, nabla_b", "    nabla_w, nabla_b")], ["not-an-array"]),
    ],
)
def test_realistic_variations(changes, tags):
    report = grade_source(mutate(REFERENCE, *changes).encode(), fast_config())
    backprop = [t for t in report.tests if t.function == "backprop"]
    # backprop's batches hold 3 to 8 examples (test_cases_are_seeded_and_varied), so a missing mean
    # (n·g) is visible in every case: each fails, with exactly these tags
    assert backprop and all(not t.passed and t.tags == tags for t in backprop), [(t.name, t.passed, t.tags) for t in backprop]


@pytest.mark.parametrize(
    "changes, sentence",
    [
        ([("nabla_b[-1] = delta.sum(axis=0)", "nabla_b[-1] = 2 * delta.sum(axis=0)")], "Wrong: ∂C/∂b"),
        ([("delta.T @ activations[-2]", "2 * delta.T @ activations[-2]")], "Wrong: ∂C/∂W"),
    ],
)
def test_feedback_says_which_part_is_wrong(changes, sentence):
    report = grade_source(mutate(REFERENCE, *changes).encode(), fast_config())
    failed = [t for t in report.tests if t.name.startswith("backprop") and not t.passed]
    assert failed, "the mutation should fail some backprop cases"
    assert all(sentence in t.output for t in failed)


def test_summary_gives_away_nothing_about_hidden_cases():
    # wrong only for batches of 7, which the seeded cases give to a hidden case
    source = mutate(REFERENCE, ("    return nabla_w, nabla_b\n", "    return nabla_w, ([2 * b for b in nabla_b] if x.shape[0] == 7 else nabla_b)\n"))
    report = grade_source(source.encode(), fast_config(hidden=2, hidden_visibility="hidden"))
    hidden_failures = [t for t in report.tests if t.hidden and not t.passed]
    assert hidden_failures and all(t.passed for t in report.tests if not t.hidden)
    leaked = {tag for t in hidden_failures for tag in t.tags}
    assert leaked and not any(tag in report.output for tag in leaked)
    assert "backprop: 2.4 / 2.4 (3 of 3 visible cases passed)" in report.output
    assert "hidden until grades are published" in report.output

"""Every built-in assignment end to end, through the sandbox: the correct submission scores full
marks with no tag, the template scores nothing, each run-level tag is earned exactly, and a function
that changes its inputs in place loses those cases. (The mathematical mistakes are checked case by
case, in this process, in test_grading_mistake_table.py; the timeout tag in test_grading_diagnosis.py.)"""

from __future__ import annotations

import pytest

from handprop.grading import ASSIGNMENTS, GradingConfig, SandboxLimits, get_assignment, grade_source
from handprop.grading.diagnose import TAGS

from assign_helpers import CHAIN_MISTAKES, CHAIN_SOURCE, LAYERS_MISTAKES, LAYERS_SOURCE, mutate, network_mistake, network_source

CORRECT = {"network": network_source(), "chain-rule": CHAIN_SOURCE, "layers": LAYERS_SOURCE}
FIRST = {"network": "sigmoid", "chain-rule": "chain_forward", "layers": "linear_forward"}


def config(assignment: str = "network", timeout: float = 3.0, **kwargs) -> GradingConfig:
    limits = SandboxLimits(timeout=timeout, max_processes=16)
    return GradingConfig(assignment=assignment, sandbox=limits, cases=kwargs.pop("cases", 3), **kwargs)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_correct_submission_scores_full_marks_and_the_template_nothing(name):
    report = grade_source(CORRECT[name].encode(), config(name))
    assert report.score == report.max_score > 0 and all(t.passed and t.tags == [] for t in report.tests)
    assert name in report.output
    template = grade_source(get_assignment(name).template().encode(), config(name))
    assert template.score == 0 and {tag for t in template.tests for tag in t.tags} == {"exception"}


def test_a_network_with_options_is_graded_by_its_own_function_names():
    options = {"hidden": "relu", "output": "softmax", "cost": "cross_entropy"}
    source = network_source("relu", "softmax", "cross_entropy")
    report = grade_source(source.encode(), config(options=options))
    assert report.score == report.max_score and list(report.functions)[:2] == ["relu", "relu_prime"]
    wrong = mutate(source, *network_mistake("missing-target", "relu", "softmax", "cross_entropy"))
    report = grade_source(wrong.encode(), config(options=options))
    assert report.functions["backprop"].score == 0 and report.functions["backprop"].tags == ["missing-target"]
    assert report.functions["update_mini_batch"].tags == ["missing-target"]


MATH_THROUGH_THE_SANDBOX = [
    ("chain-rule", "chain_gradients", "factor-2", mutate(CHAIN_SOURCE, *CHAIN_MISTAKES["chain_gradients"]["factor-2"])),
    ("layers", "softmax_cross_entropy", "missing-target", mutate(LAYERS_SOURCE, *LAYERS_MISTAKES["softmax_cross_entropy"]["missing-target"])),
]


@pytest.mark.parametrize("name, function, tag, source", MATH_THROUGH_THE_SANDBOX, ids=[m[2] for m in MATH_THROUGH_THE_SANDBOX])
def test_a_mistake_is_diagnosed_through_the_sandbox(name, function, tag, source):
    report = grade_source(source.encode(), config(name))
    assert report.functions[function].score == 0 and report.functions[function].tags == [tag]
    assert TAGS[tag].split(":")[0][:12] in report.tests[-1].output or report.functions[function].tags == [tag]
    assert all(s.score == s.max_score for f, s in report.functions.items() if f != function)


def _run_level(name: str) -> dict[str, str]:
    """tag → the correct submission with its first function changed to earn exactly that tag."""
    first = FIRST[name]
    source = CORRECT[name].replace(f"def {first}(", f"def _correct_{first}(")

    def wrapped(body: str) -> str:
        return source + f"\n\ndef {first}(*args):\n    result = _correct_{first}(*args)\n{body}"

    return {
        "missing-function": source,
        "exception": wrapped("    raise RuntimeError('not yet')\n"),
        "not-an-array": wrapped("    return 'done'\n"),
        "nan-or-inf": wrapped("    return result * np.nan\n"),
        "wrong-shape": wrapped("    return result.ravel()[:, None]\n"),
        "modified-input": wrapped("    args[0][...] = 0\n    return result\n"),
    }


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
@pytest.mark.parametrize("tag", ["missing-function", "exception", "not-an-array", "nan-or-inf", "wrong-shape", "modified-input"])
def test_each_run_level_tag_is_earned_exactly(name, tag):
    source = _run_level(name)[tag]
    report = grade_source(source.encode(), config(name, cases=2))
    first = report.functions[FIRST[name]]
    assert first.score == 0 and first.tags == [tag], [t.output for t in report.tests[:1]]
    if name == "layers":  # its functions are independent of each other
        assert all(s.score == s.max_score for f, s in report.functions.items() if f != FIRST[name])
    if tag == "modified-input":
        assert "Changed in place" in report.tests[0].output and "No credit" in report.tests[0].output

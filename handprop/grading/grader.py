"""Grade one submission: build the cases, run the file in the sandbox, judge and diagnose each case."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from .assignments import Assignment
from .cases import Case, sandbox_calls
from .config import GradingConfig
from .diagnose import RUN_TAGS, TAGS, Verdict, fail
from ..escaping import shown_name
from .sandbox import FunctionRun, SandboxError, SubmissionRun, clean_text, run_submission
from .submission import load_submission
from . import consistency
from .student_cases import build_suite, case_id, value_digest

logger = logging.getLogger(__name__)


def points_text(value: float) -> str:
    """Points as people read them: at most two decimals, no trailing zeros (3.33, 2.5, 10)."""
    return f"{round(float(value), 2) + 0.0:g}"


@dataclass
class TestResult:
    """One graded case, in the shape of a Gradescope test."""

    function: str
    number: int
    name: str  # "backprop: case 3"
    score: float
    max_score: float
    passed: bool
    tags: list[str]
    output: str
    visibility: str  # Gradescope visibility
    hidden: bool
    case_id: str = ""  # issue 20: a short digest of the case's inputs (student_cases.case_id)
    value_digest: str = ""  # issue 20: a digest of the returned value, to spot bit-identical wrong answers


@dataclass
class FunctionSummary:
    name: str
    score: float
    max_score: float
    passed: int
    cases: int
    tags: list[str]


@dataclass
class GradeReport:
    """Everything about one graded submission; ``report.py`` renders it as text, JSON or Gradescope."""

    submission: str
    score: float
    max_score: float
    execution_time: float  # seconds
    output: str  # text about the whole submission
    tests: list[TestResult] = field(default_factory=list)
    functions: dict[str, FunctionSummary] = field(default_factory=dict)
    seed: int = 0
    assignment: str = "network"  # the assignment and its options, as described to the student
    notes: list[str] = field(default_factory=list)  # about the submission itself (which file, notebook lines left out)
    sandbox_mode: str = ""  # bwrap | uid | none: how the submission was run
    sandbox_layers: list[str] = field(default_factory=list)  # the isolation layers that were active


def grade_file(
    path: Union[str, os.PathLike], config: GradingConfig, assignment: Optional[Assignment] = None, single_link: bool = False,
    student: Optional[str] = None,
) -> GradeReport:
    """Grade the submission at ``path``: a .py file, a notebook, a folder or a .zip.

    Raises FileNotFoundError for a missing path and SubmissionError (a ValueError) when it holds
    nothing gradable, with a message naming the files it found. With ``single_link`` (batch
    grading, where students may have placed the files) a symbolic link or a file with several hard
    links is refused: as root, it could make the grader read another student's or a system file
    into the feedback. ``student`` is the id per-student cases are drawn for.
    """
    assignment = assignment or config.get_assignment()
    submission = load_submission(path, config.file, assignment.template_name, single_link=single_link)
    report = grade_source(
        submission.sources(), config, name=submission.name, assignment=assignment, locate=submission.locate_runs, student=student,
    )
    if submission.notes:
        report.notes = [clean_text(note) for note in submission.notes]
        report.output = "\n".join(report.notes) + "\n" + report.output
    return report


def grade_source(
    source: Union[bytes, dict[str, bytes]], config: GradingConfig, name: str = "submission.py", assignment: Optional[Assignment] = None,
    locate: Optional[Callable[[dict], None]] = None, student: Optional[str] = None,
) -> GradeReport:
    """Grade submission source code; the code runs only in the sandboxed child process.

    ``locate`` rewrites the runs' messages in place (``Submission.locate_runs``: tracebacks and
    syntax errors name the student's file, and a notebook's cell, not the sandbox's copy).

    ``assignment`` defaults to the one ``config`` names; given, it is graded with the config's
    points where the config names it, else with its own default points.
    """
    start = time.monotonic()
    name = shown_name(name)  # one line: a newline in a file name cannot fake a log line
    assignment = assignment or config.get_assignment()
    points = dict(config.points or {}) if assignment.describe() == config.get_assignment().describe() else assignment.default_points()
    graded = assignment.functions
    max_score = float(sum(points[f] for f in graded))
    suite = build_suite(assignment, config, student)  # per-student cases when the course asks
    submission, hidden_runs = _run_separately(source, suite, config)
    runs = submission.functions
    if locate is not None:
        locate(runs)
    # A hidden case's own run: its inputs never reached the child whose messages are visible.
    case_runs = {(f, c.number): (hidden_runs if c.hidden else runs)[f] for f in graded for c in suite[f]}
    every_case = _every_case(runs, hidden_runs)  # the grader's own view (self-consistency), never shown
    runs = {f: runs.get(f) or hidden_runs[f] for f in graded}
    verdicts = {f: [judge_case(assignment, case, case_runs[f, case.number], config.rtol) for case in suite[f]] for f in graded}
    sentences = assignment.sentences()
    # Visible and hidden cases are explained apart: a visible case's feedback (its chosen
    # explanation, the note on a function it calls) must not depend on a hidden case's diagnosis.
    visible = {f: [v for c, v in zip(suite[f], verdicts[f]) if not c.hidden] for f in graded}
    for f in graded:
        _settle_ambiguities(visible[f], sentences)
        _settle_ambiguities([v for c, v in zip(suite[f], verdicts[f]) if c.hidden], sentences)
    _self_consistency(source, assignment, suite, verdicts, every_case, config)
    notes = {True: _propagation_notes(verdicts, assignment), False: _propagation_notes(visible, assignment)}

    tests: list[TestResult] = []
    functions: dict[str, FunctionSummary] = {}
    for f in graded:
        per_case = points[f] / config.cases
        for case, verdict in zip(suite[f], verdicts[f]):
            run = case_runs[f, case.number]
            tests.append(_test_result(case, verdict, run, per_case, notes[case.hidden].get(f, ""), config))
            _issue20_fields(tests[-1], case, run, per_case, config)
        own = [t for t in tests if t.function == f]
        credit = sum(t.passed or config.features.consistency_credit * (consistency.TAG in t.tags) for t in own)
        functions[f] = FunctionSummary(
            f,
            round(points[f] * credit / len(own), 9),  # not a sum of rounded case scores
            float(points[f]),
            sum(t.passed for t in own),
            len(own),
            sorted({tag for t in own for tag in t.tags}, key=list(TAGS).index),
        )
    score = round(sum(s.score for s in functions.values()), 9)
    report = GradeReport(
        submission=name,
        score=score,
        max_score=max_score,
        execution_time=round(time.monotonic() - start, 3),
        output=_overall_output(runs, tests, functions, score, max_score, assignment, config) + f"\nSandbox: {submission.mode} ({', '.join(submission.layers)}).",
        tests=tests,
        functions=functions,
        seed=config.seed,
        assignment=assignment.describe(),
        sandbox_mode=submission.mode,
        sandbox_layers=list(submission.layers),
    )
    logger.info("graded %s: %g / %g in %.2f s", name, score, max_score, report.execution_time)
    return report


def _self_consistency(source, assignment: Assignment, suite: dict, verdicts: dict, runs: dict, config: GradingConfig) -> None:
    """Probe the student's forward pass for the failed gradient cases, in a second sandboxed child
    with its own limits (``consistency.py``), and tag the consistent ones."""
    probes = consistency.plan(assignment, suite, verdicts, runs)
    if not probes.calls:
        return
    try:
        probe_runs = run_submission(source, probes.calls, config.sandbox, config.sandbox_mode).functions
    except SandboxError as error:  # the graded run worked; without probes there is just no diagnosis
        logger.warning("self-consistency probes could not run: %s", error)
        return
    consistency.review(assignment, suite, verdicts, runs, probes, probe_runs)


def _issue20_fields(test: TestResult, case: Case, run: FunctionRun, per_case: float, config: GradingConfig) -> None:
    """The case id, the returned value's digest and the self-consistency credit of one test."""
    test.case_id = case_id(case.args)
    case_run = run.cases.get(case.number)
    if case_run is not None and case_run.status == "ok" and not test.passed:
        test.value_digest = value_digest(case_run.value)
    if consistency.TAG in test.tags:
        test.score = round(per_case * config.features.consistency_credit, 6)


def _run_separately(source: Union[bytes, dict[str, bytes]], suite: dict[str, list[Case]], config: GradingConfig) -> tuple[SubmissionRun, dict[str, FunctionRun]]:
    """The visible cases in one sandbox run, then the hidden ones in a run of their own: a
    submission that reads its caller's frame (where a function's cases arrive together) and
    prints or raises what it finds can show a student only the inputs of visible cases. Returns
    the visible run (its mode and layers are the report's) and the hidden cases' function runs."""
    visible = {f: [c for c in cases if not c.hidden] for f, cases in suite.items()}
    hidden = {f: [c for c in cases if c.hidden] for f, cases in suite.items()}
    first, second = (visible, hidden) if any(visible.values()) else (hidden, {})
    run = run_submission(source, sandbox_calls(first), config.sandbox, config.sandbox_mode)
    if not any(second.values()):
        return run, _quiet(run.functions) if first is hidden else run.functions
    return run, _quiet(run_submission(source, sandbox_calls(second), config.sandbox, config.sandbox_mode).functions)


HIDDEN_MESSAGE = "(what the submission said in a hidden case is not shown)"


def _quiet(runs: dict[str, FunctionRun]) -> dict[str, FunctionRun]:
    """The hidden child's own words (exception texts, import errors) are never shown: a submission
    could print a hidden case's inputs there. The grader's verdicts and diagnoses remain."""
    for run in runs.values():
        if run.status == "import-error":
            run.message = HIDDEN_MESSAGE
        for case in run.cases.values():
            if case.message:
                case.message = HIDDEN_MESSAGE
    return runs


def _every_case(visible: dict[str, FunctionRun], hidden: dict[str, FunctionRun]) -> dict[str, FunctionRun]:
    """Each function's runs of its visible and hidden cases together, for the grader's own checks
    (the self-consistency probes); the status and message are the visible run's where there is one."""
    view: dict[str, FunctionRun] = {}
    for f in {**hidden, **visible}:
        shown, kept = visible.get(f), hidden.get(f)
        first = shown if shown is not None else kept
        cases = {**(kept.cases if kept is not None else {}), **(shown.cases if shown is not None else {})}
        view[f] = FunctionRun(first.status, first.message, cases)
    return view


def judge_case(assignment: Assignment, case: Case, run: FunctionRun, rtol: float) -> Verdict:
    """One case's verdict from how its function ran: the run-level failures first, then the
    assignment's own judging of the returned value. A failure of the judging itself fails only
    this case, with a message: whatever came back must not stop the other functions."""
    sentences = assignment.sentences()
    status = run.status
    if status == "missing":
        return fail(["missing-function"], sentences, run.message)
    if status == "timeout":
        return fail(["timeout"], sentences, run.message)
    if status in ("import-error", "crashed"):
        return fail(["exception"], sentences, run.message)
    if status != "ran":
        return fail(["not-an-array"], sentences, run.message)
    case_run = run.cases.get(case.number)
    if case_run is None:
        return fail(["not-an-array"], sentences, "No result came back for this case.")
    try:
        return assignment.judge(case, case_run, rtol)
    except Exception as error:
        logger.warning("could not judge %s: %r", case.name, error)
        message = clean_text(f"The grader could not judge this result ({type(error).__name__}: {error}).")
        return Verdict(False, ["not-an-array"], message)


def _settle_ambiguities(verdicts: list[Verdict], sentences: dict[str, str]) -> None:
    """Where a case fits several explanations (say ×2 at n = 4: factor-2, or a missing mean with a
    ½), prefer the one that explains the most failing cases of the same function."""
    counts = Counter(c for v in verdicts if not v.passed for c in v.candidates)
    if not counts:
        return
    best = max(counts, key=lambda c: (counts[c], -len(c)))
    for v in verdicts:
        if not v.passed and best in v.candidates and tuple(v.tags) != best:
            old = " ".join(sentences[t] for t in v.tags)
            new = " ".join(sentences[t] for t in best)
            v.tags = list(best)
            v.message = v.message.replace(old, new, 1) if old and old in v.message else f"{new} {v.message}"


def _propagation_notes(verdicts: dict[str, list[Verdict]], assignment: Assignment) -> dict[str, str]:
    """A sentence linking a function's mistake to the same mistake in a function it presumably calls."""

    def tags(f: str) -> set[str]:
        return {t for v in verdicts.get(f, []) for t in v.tags}

    def failed(f: str) -> bool:
        return any(not v.passed for v in verdicts.get(f, []))

    notes: dict[str, str] = {}
    for caller, callees in assignment.calls.items():
        for callee in callees:
            if callee not in verdicts or caller not in verdicts:
                continue
            if (tags(caller) & tags(callee)) - set(RUN_TAGS):
                notes[caller] = f"Your {callee} has this mistake too: {caller} presumably calls it, so fixing {callee} should fix this too."
            elif failed(caller) and failed(callee):
                notes[caller] = f"Your {callee} also fails its tests; if {caller} calls it, fix {callee} first."
    return notes


def _test_result(case: Case, verdict: Verdict, run: FunctionRun, per_case: float, note: str, config: GradingConfig) -> TestResult:
    if verdict.passed:
        output = f"Passed ({case.description})."
    else:
        output = f"Failed ({case.description}). {verdict.message}"
        if note:  # after a traceback, on a line of its own
            output += ("\n" if "\n" in output else " ") + note
    if run.status == "import-error":
        output = f"Failed: your file could not be imported, so {case.function} could not run.\n{run.message}"
    return TestResult(
        function=case.function,
        number=case.number,
        name=case.name,
        score=round(per_case if verdict.passed else 0.0, 6),
        max_score=round(per_case, 6),
        passed=verdict.passed,
        tags=list(verdict.tags),
        output=output.strip(),
        visibility=config.hidden_visibility if case.hidden else "visible",
        hidden=case.hidden,
    )


def _overall_output(
    runs: dict[str, FunctionRun],
    tests: list[TestResult],
    functions: dict[str, FunctionSummary],
    score: float,
    max_score: float,
    assignment: Assignment,
    config: GradingConfig,
) -> str:
    """The text shown above the tests. With hidden cases it counts, scores and tags only the visible
    ones, so the summary gives away nothing that the hidden tests' own visibility keeps back."""
    imports = [r for r in runs.values() if r.status == "import-error"]
    import_lines = []
    if imports:
        import_lines = ["Your file could not be imported, so none of its functions could be graded:", imports[0].message]
    if not config.hidden:
        lines = [f"Score: {points_text(score)} / {points_text(max_score)} ({assignment.describe()}, seed {config.seed}, {config.cases} cases per function)."]
        for summary in functions.values():
            extra = f"  [{', '.join(summary.tags)}]" if summary.tags else ""
            lines.append(f"{summary.name}: {points_text(summary.score)} / {points_text(summary.max_score)} ({summary.passed} of {summary.cases} cases passed){extra}")
        return "\n".join(lines[:1] + import_lines + lines[1:])
    visible = [t for t in tests if not t.hidden]
    lines = [
        f"Visible cases: {points_text(sum(t.score for t in visible))} / {points_text(sum(t.max_score for t in visible))} points "
        # No seed here: the cases, hidden ones included, are drawn from it by public code, so a student
        # who saw it could compute the hidden expected values offline and hard-code them.
        f"({assignment.describe()}). {config.hidden} more case(s) per function are hidden until grades are published."
    ]
    lines += import_lines
    for f in functions:
        own = [t for t in visible if t.function == f]
        tags = sorted({tag for t in own for tag in t.tags}, key=list(TAGS).index)
        extra = f"  [{', '.join(tags)}]" if tags else ""
        lines.append(f"{f}: {points_text(sum(t.score for t in own))} / {points_text(sum(t.max_score for t in own))} ({sum(t.passed for t in own)} of {len(own)} visible cases passed){extra}")
    return "\n".join(lines)

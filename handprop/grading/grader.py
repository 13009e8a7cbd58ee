"""Grade one submission: build the cases, run the file in the sandbox, judge and diagnose each case."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from .cases import Case, build_cases, sandbox_calls
from .config import GradingConfig
from .diagnose import TAGS, Verdict, judge
from .sandbox import FunctionRun, clean_text, run_submission

logger = logging.getLogger(__name__)

MAX_SUBMISSION_BYTES = 1_000_000


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
    sandbox_mode: str = ""  # bwrap | uid | none: how the submission was run
    sandbox_layers: list[str] = field(default_factory=list)  # the isolation layers that were active


def grade_file(path: Union[str, os.PathLike], config: GradingConfig, single_link: bool = False) -> GradeReport:
    """Grade the Python file at ``path``. Raises FileNotFoundError/ValueError for an unusable path.

    With ``single_link`` (batch grading, where students may have placed the files) a symbolic link
    or a file with several hard links is refused: as root, it could make the grader read another
    student's or a system file into the feedback.
    """
    source_path = Path(path)
    name = clean_text(str(source_path))
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if single_link else 0)
    try:
        fd = os.open(source_path, flags)
    except OSError as error:
        if single_link and source_path.is_symlink():
            raise ValueError(f"submission {name} is a symbolic link; links are not graded") from None
        raise FileNotFoundError(f"submission {name} does not exist or is not a file ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileNotFoundError(f"submission {name} does not exist or is not a file")
        if single_link and info.st_nlink != 1:
            raise ValueError(f"submission {name} has {info.st_nlink} hard links; copy it instead")
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise ValueError(f"submission {name} is {info.st_size} bytes; the limit is {MAX_SUBMISSION_BYTES}")
        source = f.read(MAX_SUBMISSION_BYTES + 1)
    if len(source) > MAX_SUBMISSION_BYTES:
        raise ValueError(f"submission {name} is larger than {MAX_SUBMISSION_BYTES} bytes")
    return grade_source(source, config, name=name)


def grade_source(source: bytes, config: GradingConfig, name: str = "submission.py") -> GradeReport:
    """Grade submission source code; the code runs only in the sandboxed child process."""
    start = time.monotonic()
    name = clean_text(name)
    suite = build_cases(config)
    submission = run_submission(source, sandbox_calls(suite), config.sandbox, config.sandbox_mode)
    runs = submission.functions
    verdicts = {f: [_judge(case, runs[f], config.rtol) for case in suite[f]] for f in config.functions}
    for f in config.functions:
        _settle_ambiguities(verdicts[f])
    notes = _propagation_notes(verdicts)

    tests: list[TestResult] = []
    functions: dict[str, FunctionSummary] = {}
    for f in config.functions:
        per_case = config.points[f] / config.cases
        for case, verdict in zip(suite[f], verdicts[f]):
            tests.append(_test_result(case, verdict, runs[f], per_case, notes.get(f, ""), config))
        own = [t for t in tests if t.function == f]
        functions[f] = FunctionSummary(
            f,
            round(sum(t.score for t in own), 6),
            float(config.points[f]),
            sum(t.passed for t in own),
            len(own),
            sorted({tag for t in own for tag in t.tags}, key=list(TAGS).index),
        )
    score = round(sum(s.score for s in functions.values()), 6)
    report = GradeReport(
        submission=name,
        score=score,
        max_score=config.max_score,
        execution_time=round(time.monotonic() - start, 3),
        output=_overall_output(runs, tests, functions, score, config) + f"\nSandbox: {submission.mode} ({', '.join(submission.layers)}).",
        tests=tests,
        functions=functions,
        seed=config.seed,
        sandbox_mode=submission.mode,
        sandbox_layers=list(submission.layers),
    )
    logger.info("graded %s: %g / %g in %.2f s", name, score, config.max_score, report.execution_time)
    return report


def _judge(case: Case, run: FunctionRun, rtol: float) -> Verdict:
    """Judge one case; a failure of the judging itself fails only this case, with a message."""
    try:
        return judge(case, run, rtol)
    except Exception as error:  # whatever came back, it must not stop the other functions
        logger.warning("could not judge %s: %r", case.name, error)
        message = clean_text(f"The grader could not judge this result ({type(error).__name__}: {error}).")
        return Verdict(False, ["not-an-array"], message)


def _settle_ambiguities(verdicts: list[Verdict]) -> None:
    """Where a case fits several explanations (say ×2 at n = 2: factor-2 or missing-batch-mean),
    prefer the one that explains the most failing cases of the same function."""
    counts = Counter(c for v in verdicts if not v.passed for c in v.candidates)
    if not counts:
        return
    best = max(counts, key=lambda c: (counts[c], -len(c)))
    for v in verdicts:
        if not v.passed and best in v.candidates and tuple(v.tags) != best:
            old = " ".join(TAGS[t] for t in v.tags)
            new = " ".join(TAGS[t] for t in best)
            v.tags = list(best)
            v.message = v.message.replace(old, new, 1) if old and old in v.message else f"{new} {v.message}"


def _propagation_notes(verdicts: dict[str, list[Verdict]]) -> dict[str, str]:
    """A sentence linking a function's mistake to the same mistake in a function it calls."""
    def tags(f: str) -> set[str]:
        return {t for v in verdicts.get(f, []) for t in v.tags}

    def failed(f: str) -> bool:
        return any(not v.passed for v in verdicts.get(f, []))

    notes: dict[str, str] = {}
    shared = tags("update_mini_batch") & tags("backprop")
    if shared - {"exception", "timeout", "missing-function"}:
        notes["update_mini_batch"] = "This is the same mistake as in your backprop, which update_mini_batch presumably calls: fixing backprop should fix this too."
    elif failed("update_mini_batch") and failed("backprop"):
        notes["update_mini_batch"] = "Your backprop also fails its tests; if update_mini_batch calls it, fix backprop first."
    if tags("backprop") & tags("sigmoid_prime") - {"exception", "timeout", "missing-function"}:
        notes["backprop"] = "Your sigmoid_prime has this mistake too; backprop inherits it if it calls sigmoid_prime."
    if failed("feedforward") and failed("sigmoid"):
        notes["feedforward"] = "Your sigmoid also fails its tests; feedforward inherits its mistakes if it calls it."
    return notes


def _test_result(case: Case, verdict: Verdict, run: FunctionRun, per_case: float, note: str, config: GradingConfig) -> TestResult:
    if verdict.passed:
        output = f"Passed ({case.description})."
    else:
        output = f"Failed ({case.description}). {verdict.message}"
        if note:
            output += " " + note
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
    config: GradingConfig,
) -> str:
    """The text shown above the tests. With hidden cases it counts, scores and tags only the visible
    ones, so the summary gives away nothing that the hidden tests' own visibility keeps back."""
    imports = [r for r in runs.values() if r.status == "import-error"]
    import_lines = []
    if imports:
        import_lines = ["Your file could not be imported, so none of its functions could be graded:", imports[0].message]
    if not config.hidden:
        lines = [f"Score: {score:g} / {config.max_score:g} (seed {config.seed}, {config.cases} cases per function)."]
        for summary in functions.values():
            extra = f"  [{', '.join(summary.tags)}]" if summary.tags else ""
            lines.append(f"{summary.name}: {summary.score:g} / {summary.max_score:g} ({summary.passed} of {summary.cases} cases passed){extra}")
        return "\n".join(lines[:1] + import_lines + lines[1:])
    visible = [t for t in tests if not t.hidden]
    lines = [
        f"Visible cases: {sum(t.score for t in visible):g} / {sum(t.max_score for t in visible):g} points "
        f"(seed {config.seed}). {config.hidden} more case(s) per function are hidden until grades are published."
    ]
    lines += import_lines
    for f in functions:
        own = [t for t in visible if t.function == f]
        tags = sorted({tag for t in own for tag in t.tags}, key=list(TAGS).index)
        extra = f"  [{', '.join(tags)}]" if tags else ""
        lines.append(f"{f}: {sum(t.score for t in own):g} / {sum(t.max_score for t in own):g} ({sum(t.passed for t in own)} of {len(own)} visible cases passed){extra}")
    return "\n".join(lines)

"""Render a GradeReport as text for a person, as JSON, or as Gradescope's results.json; write atomically.

Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/): top-level
``score``, ``execution_time`` (seconds), ``output``, ``tests``; each test has ``name``, ``number``,
``score``, ``max_score``, ``status`` ("passed"/"failed"), ``output``, ``tags`` and ``visibility``
("hidden", "after_due_date", "after_published" or "visible").
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Union

from ..atomic import atomic_open
from .diagnose import TAGS
from .grader import GradeReport, points_text

FORMATS = ("text", "json", "gradescope")


def to_text(report: GradeReport, verbose: bool = False, student: bool = False) -> str:
    """A person's summary: the score per function, then every failed case's feedback.

    ``student``: the text handed back to the student (``--batch``'s NAME.txt): hidden cases are
    left out entirely (no input, shape, score or diagnosis of theirs), as Gradescope would keep
    them back; the scores are those of the visible cases."""
    hidden = [t for t in report.tests if t.hidden] if student else []
    tests = [t for t in report.tests if not (student and t.hidden)]
    if hidden:
        score, max_score = sum(t.score for t in tests), sum(t.max_score for t in tests)
        lines = [f"{report.submission}: {points_text(score)} / {points_text(max_score)} points on the visible cases; "
                 f"{len(hidden)} hidden case(s) are not shown ({report.execution_time:.2f} s)"]  # fmt: skip
    else:
        lines = [f"{report.submission}: {points_text(report.score)} / {points_text(report.max_score)} points ({report.execution_time:.2f} s)"]
    lines += [f"  {note}" for note in report.notes]
    if report.sandbox_mode:
        lines.append(f"  sandbox: {report.sandbox_mode} ({', '.join(report.sandbox_layers)})")
    width = max(len(f) for f in report.functions) if report.functions else 0
    for s in report.functions.values():
        if hidden:
            own = [t for t in tests if t.function == s.name]
            tags_of = sorted({tag for t in own for tag in t.tags}, key=list(TAGS).index)
            s = type(s)(s.name, sum(t.score for t in own), sum(t.max_score for t in own), sum(t.passed for t in own), len(own), tags_of)
        tags = f"  [{', '.join(s.tags)}]" if s.tags else ""
        lines.append(f"  {s.name:<{width}}  {points_text(s.score):>6} / {points_text(s.max_score):<4} {s.passed}/{s.cases} cases{tags}")
    shown = [t for t in tests if verbose or not t.passed]
    if shown:
        lines.append("")
    # Cases of one function with the same feedback (an import error, a timeout) are listed once.
    groups: list[list] = []
    for t in shown:
        if groups and groups[-1][0].function == t.function and groups[-1][0].output == t.output:
            groups[-1].append(t)
        else:
            groups.append([t])
    for group in groups:
        first = group[0]
        if len(group) == 1:
            name = first.name
        else:
            name = f"{first.function}: cases {', '.join(str(t.number) for t in group)}"
        hidden = " [hidden]" if any(t.hidden for t in group) else ""
        score, max_score = sum(t.score for t in group), sum(t.max_score for t in group)
        lines.append(f"{name}{hidden}: {points_text(score)} / {points_text(max_score)}")
        lines.extend("    " + line for line in first.output.splitlines())
    return "\n".join(lines) + "\n"


def to_json(report: GradeReport) -> dict[str, Any]:
    """Every field of the report as plain JSON data."""
    data = asdict(report)
    data["functions"] = {name: asdict(s) for name, s in report.functions.items()}
    return data


def to_gradescope(report: GradeReport) -> dict[str, Any]:
    """The results.json Gradescope reads."""
    tests = []
    for i, t in enumerate(report.tests):
        tests.append(
            {
                "name": t.name,
                "number": f"{list(report.functions).index(t.function) + 1}.{t.number}",
                "score": float(t.score),
                "max_score": float(t.max_score),
                "status": "passed" if t.passed else "failed",
                "output": t.output,
                "tags": list(t.tags),
                "visibility": t.visibility,
                "extra_data": {"case_id": t.case_id, "tags": list(t.tags)},  # issue 20: for tools and instructors
            }
        )
    return {
        "score": float(report.score),
        "execution_time": float(report.execution_time),
        "output": report.output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def render(report: GradeReport, fmt: str, verbose: bool = False, student: bool = False) -> str:
    """``student``: text for the student only (hidden cases left out; see ``to_text``)."""
    if fmt == "text":
        return to_text(report, verbose, student)
    if fmt == "json":
        return json.dumps(to_json(report), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
    if fmt == "gradescope":
        return json.dumps(to_gradescope(report), indent=2, ensure_ascii=True, allow_nan=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_atomic(path: Union[str, os.PathLike], text: str, file_mode: int = 0o600) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: readers see
    the old file or the whole new one, never a partial one (and anything written there before is
    replaced). The grader's outputs are its own: mode 0600, so that no submission graded later
    under a sandbox user can read a classmate's grades or feedback."""
    target = Path(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder {target.parent} does not exist")
    with atomic_open(target, "w", encoding="utf-8", file_mode=file_mode) as f:
        f.write(text)
    return target

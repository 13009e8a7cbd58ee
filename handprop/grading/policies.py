"""Course policies read from Gradescope's ``submission_metadata.json``: a late multiplier and an
anti-oracle limit.

Gradescope writes /autograder/submission_metadata.json beside the submission
(https://gradescope-autograders.readthedocs.io/en/latest/submission_metadata/): ``created_at`` (this
submission's time), ``assignment.due_date``, ``users`` (each may carry its own ``assignment`` with an
extended ``due_date``) and ``previous_submissions`` (each with ``submission_time``), times in ISO 8601
with an offset.

- Late: ``score × max(minimum, 1 − penalty_per_hour · ⌈hours past the due date − grace_hours⌉)``.
- Anti-oracle: after ``max_submissions`` submissions within ``window_hours``, the feedback
  keeps each function's tags and scores but no case numbers, case ids or case descriptions, and
  the tests are listed failed-first within each function, so their order names no case either.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .features import CourseFeatures, LatePolicy, OraclePolicy

METADATA_FILE = "submission_metadata.json"


def read_metadata(path: Union[str, os.PathLike]) -> Optional[dict[str, Any]]:
    """The metadata as a dict, or None when the file is absent or not a JSON object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time with an offset, as Gradescope writes it; ValueError naming ``what`` otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{what} must be an ISO 8601 time such as 2026-12-07T23:00:00-08:00, got {value!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{what} has no UTC offset: {value!r}")
    return moment


def due_date(metadata: Mapping[str, Any]) -> Optional[datetime]:
    """The due date that applies: a submitter's own (an extension) where Gradescope gives one."""
    for user in metadata.get("users") or []:
        own = user.get("assignment") if isinstance(user, dict) else None
        if isinstance(own, dict) and own.get("due_date"):
            return parse_time(own["due_date"], "users[].assignment.due_date")
    assignment = metadata.get("assignment")
    if isinstance(assignment, dict) and assignment.get("due_date"):
        return parse_time(assignment["due_date"], "assignment.due_date")
    return None


@dataclass
class Late:
    hours: float  # past the due date (0 when on time)
    multiplier: float


def late(metadata: Mapping[str, Any], policy: LatePolicy) -> Late:
    """How late this submission is and the multiplier ``policy`` gives it."""
    due = due_date(metadata)
    if due is None or "created_at" not in metadata:
        return Late(0.0, 1.0)
    hours = max(0.0, (parse_time(metadata["created_at"], "created_at") - due).total_seconds() / 3600)
    charged = math.ceil(round(hours - policy.grace_hours, 9)) if hours > policy.grace_hours else 0
    return Late(hours, max(policy.minimum, 1.0 - policy.penalty_per_hour * charged) if charged else 1.0)


def submissions_in_window(metadata: Mapping[str, Any], policy: OraclePolicy) -> int:
    """This submission and the previous ones made within ``window_hours`` before it."""
    if "created_at" not in metadata:
        return 1
    now = parse_time(metadata["created_at"], "created_at")
    start = now - timedelta(hours=policy.window_hours)
    count = 1
    for previous in metadata.get("previous_submissions") or []:
        if isinstance(previous, dict) and previous.get("submission_time"):
            moment = parse_time(previous["submission_time"], "previous_submissions[].submission_time")
            count += start < moment <= now
    return count


def redact_cases(results: dict[str, Any], sentences: Mapping[str, str]) -> dict[str, Any]:
    """results.json without case numbers, ids or inputs: each test named by its function, its
    output the tags' sentences, listed failed-first within each function."""
    order: dict[str, int] = {}
    tests = []
    for test in results.get("tests", []):
        function = str(test.get("name", "")).split(":")[0]
        order.setdefault(function, len(order))
        tags = list(test.get("tags", []))
        passed = test.get("status") == "passed"
        text = "Passed." if passed else "Failed. " + " ".join(sentences.get(t, t) for t in tags) if tags else "Failed: the values are wrong."
        tests.append({
            "name": function, "score": test.get("score"), "max_score": test.get("max_score"), "status": test.get("status"),
            "output": text.strip(), "tags": tags, "visibility": test.get("visibility", "visible"), "extra_data": {"tags": tags},
        })  # fmt: skip
    tests.sort(key=lambda t: (order[t["name"]], t["status"] == "passed"))
    return {**results, "tests": tests}


def apply_policies(results: dict[str, Any], metadata: Optional[Mapping[str, Any]], features: CourseFeatures, sentences: Mapping[str, str]) -> dict[str, Any]:
    """results.json with the course's late multiplier and anti-oracle limit applied (unchanged
    without metadata or policies)."""
    if not metadata:
        return results
    notes = []
    if features.oracle is not None:
        count = submissions_in_window(metadata, features.oracle)
        if count > features.oracle.max_submissions:
            results = redact_cases(results, sentences)
            notes.append(
                f"This is submission {count} within {features.oracle.window_hours:g} hours (the course shows case details for "
                f"the first {features.oracle.max_submissions}): the feedback shows each function's mistakes and score, but not which cases failed."
            )
    if features.late is not None:
        lateness = late(metadata, features.late)
        if lateness.multiplier < 1.0:
            before = float(results.get("score", 0.0))
            results = {**results, "score": round(before * lateness.multiplier, 6)}
            notes.append(f"Submitted {lateness.hours:.1f} hours after the due date: score {before:g} × {lateness.multiplier:g} = {results['score']:g}.")
    if notes:
        results = {**results, "output": "\n".join(notes) + "\n" + str(results.get("output", ""))}
    return results

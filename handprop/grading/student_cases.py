"""Per-student cases and case ids.

With ``per_student_cases = true`` every case (visible and hidden) is drawn from its own stream,
seeded by HMAC-SHA256(course secret, assignment · student · function · case number): the same
student gets the same cases on every regrade, two students get different ones, and without the
secret nobody can compute another student's cases (or their own hidden ones). The case design rule
and the redraw of a case that hides a catalogued mistake (``Assignment._separating_case``) apply to
each drawn case as before: the redraws come from the same per-case stream, so they too are stable.

The secret comes from ``$HANDPROP_COURSE_SECRET`` or the course file's ``secret_file``; the student
id from Gradescope's ``submission_metadata.json`` (the submitters' ids) or a batch entry's name.

``case_id`` is a short digest of a case's inputs, shown to students and instructors (results.json
``extra_data``): it names which inputs were drawn without revealing them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .cases import Case, is_hidden

SECRET_ENV = "HANDPROP_COURSE_SECRET"
MIN_SECRET_BYTES = 16  # a shorter secret could be guessed, and with it every student's cases


def course_secret(secret_file: Optional[Union[str, os.PathLike]] = None) -> bytes:
    """The course secret: ``$HANDPROP_COURSE_SECRET`` if set, else the contents of ``secret_file``
    (surrounding whitespace removed). ValueError when neither gives at least 16 bytes."""
    env = os.environ.get(SECRET_ENV)
    if env:
        secret = env.strip().encode("utf-8")
        where = f"${SECRET_ENV}"
    elif secret_file:
        try:
            secret = Path(secret_file).read_bytes().strip()
        except OSError as error:
            raise ValueError(f"cannot read the course secret file {secret_file}: {error.strerror or error}") from None
        where = f"the secret file {secret_file}"
    else:
        raise ValueError(f"per_student_cases needs a course secret: set ${SECRET_ENV} or secret_file = PATH in the course file")
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the course secret in {where} is too short: use at least {MIN_SECRET_BYTES} random characters")
    return secret


def student_rng(secret: bytes, student: str, assignment: str, function: str, k: int) -> np.random.Generator:
    """The stream of case ``k`` (0-based) of ``function`` for ``student``."""
    message = "\x1f".join([assignment, student, function, str(k)]).encode("utf-8")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return np.random.default_rng([int(w) for w in np.frombuffer(digest, dtype="<u4")])


def build_student_cases(assignment: Any, secret: bytes, student: str, cases: int, hidden: int) -> dict[str, list[Case]]:
    """``assignment.build_cases`` with one HMAC-seeded stream per (student, function, case)."""
    if not isinstance(student, str) or not student:
        raise ValueError(f"per-student cases need a student id, got {student!r}")
    describe = assignment.describe()
    suite: dict[str, list[Case]] = {}
    for function in assignment.functions:
        suite[function] = [
            assignment._separating_case(function, k, student_rng(secret, student, describe, function, k), is_hidden(k, cases, hidden))
            for k in range(cases)
        ]
    return suite


def build_suite(assignment: Any, config: Any, student: Optional[str]) -> dict[str, list[Case]]:
    """The cases ``config`` grades for ``student``: per student when the course file asks for it,
    else the seeded suite every student shares. (The grader's hook.)"""
    features = config.features
    if not features.per_student_cases:
        return assignment.build_cases(config.seed, config.cases, config.hidden)
    if not student:
        raise ValueError("per_student_cases is on but no student id is known (Gradescope's submission_metadata.json, or a batch entry's name)")
    secret = features.secret if features.secret is not None else course_secret(features.secret_file)
    return build_student_cases(assignment, secret, student, config.cases, config.hidden)


def _feed(h: "hashlib._Hash", value: Any) -> None:
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value, dtype=np.float64)
        h.update(f"a{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(f"l{len(value)}".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(f"n{float(value)!r}".encode())


def case_id(args: list[Any]) -> str:
    """A short (12 hex digits) digest of a case's inputs: equal inputs, equal ids."""
    h = hashlib.sha256(b"handprop-case")
    _feed(h, list(args))
    return h.hexdigest()[:12]


def value_digest(value: Any) -> str:
    """A digest of a returned value, to spot bit-identical wrong answers ('' when none came back)."""
    if value is None:
        return ""
    h = hashlib.sha256(b"handprop-value")
    try:
        _feed(h, value)
    except (TypeError, ValueError):
        return ""
    return h.hexdigest()[:16]


def student_from_metadata(path: Union[str, os.PathLike]) -> Optional[str]:
    """The submitters' ids from Gradescope's ``submission_metadata.json`` (sorted, joined by '+': a
    group shares its cases), or None when the file is absent or names no user."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, list):
        return None
    ids = sorted(str(u["id"]) for u in users if isinstance(u, dict) and isinstance(u.get("id"), (int, str)) and str(u.get("id")))
    return "+".join(ids) or None

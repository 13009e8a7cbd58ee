"""The course file's settings for issue 20's grading features, apart from the core grading settings.

    per_student_cases = true            # every case drawn from HMAC(secret, student, function, case)
    secret_file = "course-secret.txt"   # or $HANDPROP_COURSE_SECRET
    consistency_credit = 0.5            # share of a case's points for forward-wrong-backprop-consistent

    [late]                              # from Gradescope's submission_metadata.json
    penalty_per_hour = 0.01             # the score is multiplied by 1 − penalty · (hours late, rounded up)
    grace_hours = 0.0
    minimum = 0.0                       # the multiplier never drops below this

    [oracle]                            # anti-oracle: after max_submissions in window_hours,
    max_submissions = 5                 # feedback shows tags and scores but no case numbers
    window_hours = 24.0

Each bad value is one ValueError naming its key. ``GradingConfig.features`` holds a ``CourseFeatures``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

# Top-level course-file keys handled here (``late`` and ``oracle`` are tables).
FEATURE_KEYS: tuple[str, ...] = ("per_student_cases", "secret_file", "consistency_credit", "late", "oracle")
FEATURE_TABLES: tuple[str, ...] = ("late", "oracle")
LATE_KEYS: tuple[str, ...] = ("penalty_per_hour", "grace_hours", "minimum")
ORACLE_KEYS: tuple[str, ...] = ("max_submissions", "window_hours")


def _number(value: Any, name: str, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high or math.isnan(value):
        bound = f"from {low:g} to {high:g}" if high < math.inf else f"≥ {low:g} (finite)"
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class LatePolicy:
    """multiplier = max(minimum, 1 − penalty_per_hour · ⌈hours past the due date − grace_hours⌉)."""

    penalty_per_hour: float = 0.0
    grace_hours: float = 0.0
    minimum: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "penalty_per_hour", _number(self.penalty_per_hour, "late.penalty_per_hour", 0.0, 1.0))
        object.__setattr__(self, "grace_hours", _number(self.grace_hours, "late.grace_hours", 0.0))
        object.__setattr__(self, "minimum", _number(self.minimum, "late.minimum", 0.0, 1.0))


@dataclass(frozen=True)
class OraclePolicy:
    """After ``max_submissions`` submissions within ``window_hours`` (a later one in the window), case
    numbers and inputs are left out of the feedback; tags and scores are still shown."""

    max_submissions: int = 5
    window_hours: float = 24.0

    def __post_init__(self) -> None:
        m = self.max_submissions
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"oracle.max_submissions must be a positive integer, got {m!r}")
        object.__setattr__(self, "window_hours", _number(self.window_hours, "oracle.window_hours", 1e-9))


@dataclass(frozen=True)
class CourseFeatures:
    per_student_cases: bool = False
    secret_file: Optional[str] = None
    consistency_credit: float = 0.0  # share of a case's points, 0 to 1
    late: Optional[LatePolicy] = None
    oracle: Optional[OraclePolicy] = None
    # The secret itself, once read (``with_secret``): resolved in the parent of a batch, since its
    # workers do not see an environment variable set after their server started. Never written out.
    secret: Optional[bytes] = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.per_student_cases, bool):
            raise ValueError(f"per_student_cases must be true or false, got {self.per_student_cases!r}")
        if self.secret_file is not None and (not isinstance(self.secret_file, str) or not self.secret_file):
            raise ValueError(f"secret_file must be a path, got {self.secret_file!r}")
        object.__setattr__(self, "consistency_credit", _number(self.consistency_credit, "consistency_credit", 0.0, 1.0))
        for name, kind in (("late", LatePolicy), ("oracle", OraclePolicy)):
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, policy_from_table(kind, value, name))
            elif value is not None and not isinstance(value, kind):
                raise ValueError(f"{name} must be a table, got {value!r}")


def policy_from_table(kind: type, table: dict[str, Any], name: str):
    keys = LATE_KEYS if kind is LatePolicy else ORACLE_KEYS
    unknown = [k for k in table if k not in keys]
    if unknown:
        raise ValueError(f"unknown key '{name}.{unknown[0]}'; expected some of {', '.join(keys)}")
    return kind(**table)


def pop_features(settings: dict[str, Any], where: str = "config") -> CourseFeatures:
    """Remove this module's keys from ``settings`` and return them as a CourseFeatures; a bad value is
    one ValueError ``where: key: …``."""
    given = {k: settings.pop(k) for k in FEATURE_KEYS if k in settings}
    for key, value in given.items():
        if (key in FEATURE_TABLES) != isinstance(value, dict):
            raise ValueError(f"{where}: {key} must be {'a table [' + key + ']' if key in FEATURE_TABLES else 'a value, not a table'}")
        try:
            CourseFeatures(**{key: value})
        except (ValueError, TypeError) as error:
            message = str(error)
            raise ValueError(f"{where}: {message if message.startswith(key) or 'unknown key' in message else key + ': ' + message}") from None
    return CourseFeatures(**given)


def with_secret(config: Any) -> Any:
    """``config`` with the course secret read now (per-student cases only); ValueError if there is none."""
    features = config.features
    if not features.per_student_cases or features.secret is not None:
        return config
    from .student_cases import course_secret

    return replace(config, features=replace(features, secret=course_secret(features.secret_file)))


def features_from_dict(data: Any) -> CourseFeatures:
    if isinstance(data, CourseFeatures):
        return data
    return CourseFeatures(**dict(data or {}))

"""The grading settings: which functions, their points, how many cases, tolerance, sandbox limits."""

from __future__ import annotations

import math

import os
from dataclasses import dataclass, field
from typing import Optional

# The functions of the default assignment, in the order they are graded and reported.
FUNCTIONS: tuple[str, ...] = ("sigmoid", "sigmoid_prime", "feedforward", "backprop", "update_mini_batch")

DEFAULT_POINTS: dict[str, float] = {
    "sigmoid": 1.0,
    "sigmoid_prime": 1.0,
    "feedforward": 2.0,
    "backprop": 4.0,
    "update_mini_batch": 2.0,
}

# Gradescope's per-test visibility values (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
VISIBILITIES: tuple[str, ...] = ("hidden", "after_due_date", "after_published", "visible")

SANDBOX_MODES: tuple[str, ...] = ("auto", "bwrap", "uid", "none")

NOBODY_UID = 65534  # the conventional unprivileged "nobody" user and "nogroup" group


def default_sandbox_uid() -> Optional[int]:
    """Drop to ``nobody`` when the grader runs as root (Gradescope does); otherwise keep the user."""
    return NOBODY_UID if hasattr(os, "geteuid") and os.geteuid() == 0 else None


# Packages a submission may not use (the reference, the test-side twin, autograd libraries).
FORBIDDEN_IMPORTS: tuple[str, ...] = ("torch", "jax", "tensorflow", "autograd", "handprop", "verify")

MAX_TIMEOUT = 3600.0  # seconds per function: an hour is far beyond any honest submission

@dataclass(frozen=True)
class SandboxLimits:
    """Limits on the process that runs a submission.

    ``timeout`` is wall-clock seconds per function (all its cases) and for importing the file;
    ``uid``/``gid`` is the unprivileged user the child runs as (``None``: the grader's own user).
    """

    timeout: float = 10.0
    memory_mb: int = 1024  # RLIMIT_AS: address space, so numpy's import must fit in it
    max_processes: int = 8  # RLIMIT_NPROC: counts every process (and thread) of the child's user
    max_file_mb: int = 64  # RLIMIT_FSIZE: largest file the child may write
    uid: Optional[int] = field(default_factory=default_sandbox_uid)
    gid: Optional[int] = None  # defaults to uid when uid is set
    forbidden_imports: tuple[str, ...] = FORBIDDEN_IMPORTS  # bwrap: not visible at all; else refused by a hook
    max_result_mb: int = 64  # bytes one function's results may take coming back (all its cases)

    def __post_init__(self) -> None:
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not 0 < self.timeout <= MAX_TIMEOUT:
            raise ValueError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {self.timeout!r}")
        for name in ("memory_mb", "max_processes", "max_file_mb", "max_result_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.uid is not None and (not isinstance(self.uid, int) or self.uid < 0):
            raise ValueError(f"uid must be a non-negative integer or None, got {self.uid!r}")

        if isinstance(self.forbidden_imports, str) or not all(
            isinstance(m, str) and m.isidentifier() for m in self.forbidden_imports
        ):
            raise ValueError(f"forbidden_imports must be a sequence of module names, got {self.forbidden_imports!r}")
        object.__setattr__(self, "forbidden_imports", tuple(self.forbidden_imports))

    @property
    def group(self) -> Optional[int]:
        return self.gid if self.gid is not None else self.uid


@dataclass(frozen=True)
class GradingConfig:
    """How a submission is graded.

    Each function gets ``cases`` randomized cases drawn from ``seed``; each case is worth
    ``points[function] / cases``. A value passes when max|got − expected| ≤ rtol · max|expected|
    for every returned array (a relative tolerance on the array's scale, in float64). The last
    ``hidden`` cases of every function carry Gradescope visibility ``hidden_visibility``.
    """

    seed: int = 0
    cases: int = 5
    hidden: int = 0
    hidden_visibility: str = "after_published"
    rtol: float = 1e-5
    points: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    sandbox_mode: str = "auto"  # auto | bwrap | uid | none (see handprop.grading.sandbox.modes)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.cases, bool) or not isinstance(self.cases, int) or not 1 <= self.cases <= 100:
            raise ValueError(f"cases must be an integer from 1 to 100, got {self.cases!r}")
        if isinstance(self.hidden, bool) or not isinstance(self.hidden, int) or not 0 <= self.hidden <= self.cases:
            raise ValueError(f"hidden must be an integer from 0 to cases ({self.cases}), got {self.hidden!r}")
        if self.hidden_visibility not in VISIBILITIES:
            raise ValueError(f"hidden_visibility must be one of {', '.join(VISIBILITIES)}, got {self.hidden_visibility!r}")
        if not (isinstance(self.rtol, (int, float)) and 0 < self.rtol < 1):
            raise ValueError(f"rtol must be a number in (0, 1), got {self.rtol!r}")
        if self.sandbox_mode not in SANDBOX_MODES:
            raise ValueError(f"sandbox_mode must be one of {', '.join(SANDBOX_MODES)}, got {self.sandbox_mode!r}")
        unknown = set(self.points) - set(FUNCTIONS)
        if unknown:
            raise ValueError(f"points given for unknown functions {sorted(unknown)}; expected some of {', '.join(FUNCTIONS)}")
        for name, value in self.points.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"points for {name} must be a non-negative finite number, got {value!r}")

    @property
    def functions(self) -> tuple[str, ...]:
        """The graded functions: those with points (a function given 0 points is still graded)."""
        return tuple(f for f in FUNCTIONS if f in self.points)

    @property
    def max_score(self) -> float:
        return float(sum(self.points[f] for f in self.functions))

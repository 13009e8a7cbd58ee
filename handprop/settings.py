"""One check per setting, shared by the command line, the course file and the Python API.

Each function returns the value (as int or float) or raises ValueError whose message starts with
``key``, the name the caller knows it by (``--timeout``, ``limits.timeout``, ``timeout``), so a
bad value is one line naming what to fix, wherever it came from. The bounds are where the value
stops making sense or stops fitting the kernel's limits (RLIMIT_AS in bytes, a 32-bit uid), so
nothing accepted here fails later inside the sandbox.
"""

from __future__ import annotations

import math
from typing import Any, Optional

MAX_CASES = 100
MAX_SEED = 2**63 - 1  # numpy seeds any non-negative integer; a bundle's secret seed has 63 bits
MIN_TIMEOUT = 0.5  # seconds: below this even a correct solution's first call can miss it
MAX_TIMEOUT = 3600.0  # an hour is far beyond any honest submission
MAX_MEMORY_MB = 2**20  # 1 TiB: far above any machine's memory, and fits RLIMIT_AS in bytes
MAX_FILE_MB = 2**20
MAX_PROCESSES = 2**16
MAX_UID = 2**32 - 2  # (uid_t)-1 means "unchanged" to setuid
MAX_POINTS = 1e6  # points of one assignment, all functions together


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(value: Any, key: str, low: int, high: Optional[int] = None) -> int:
    """An int in [low, high]."""
    if not _is_int(value) or value < low or (high is not None and value > high):
        expected = f"an integer from {low} to {high}" if high is not None else (
            "a positive integer" if low == 1 else "a non-negative integer" if low == 0 else f"an integer ≥ {low}"
        )
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    return int(value)


def cases(value: Any, key: str = "cases") -> int:
    return integer(value, key, 1, MAX_CASES)


def seed(value: Any, key: str = "seed") -> int:
    if _is_int(value) and 0 <= value <= MAX_SEED:
        return int(value)
    raise ValueError(f"{key} must be a non-negative integer (below 2**63), got {value!r}")


def rtol(value: Any, key: str = "rtol") -> float:
    if not _is_number(value) or not 0 < value < 1:
        raise ValueError(f"{key} must be a number in (0, 1), got {value!r}")
    return float(value)


def timeout(value: Any, key: str = "timeout") -> float:
    if not _is_number(value) or not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ValueError(
            f"{key} must be a number of seconds from {MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} (per function, import included), got {value!r}"
        )
    return float(value)


def memory_mb(value: Any, key: str = "memory_mb") -> int:
    return integer(value, key, 1, MAX_MEMORY_MB)


def file_mb(value: Any, key: str = "max_file_mb") -> int:
    return integer(value, key, 1, MAX_FILE_MB)


def processes(value: Any, key: str = "max_processes") -> int:
    return integer(value, key, 1, MAX_PROCESSES)


def uid(value: Any, key: str = "uid") -> Optional[int]:
    """A user or group id the sandbox may switch to, or None (keep the grader's)."""
    if value is None:
        return None
    return integer(value, key, 0, MAX_UID)


def points(value: Any, key: str) -> float:
    """One function's points."""
    if not _is_number(value) or not 0 <= value <= MAX_POINTS:
        raise ValueError(f"{key} must be a finite number of points from 0 to {MAX_POINTS:g}, got {value!r}")
    return float(value)


def points_total(total: float, key: str = "points") -> float:
    """All functions' points together: finite, and at most MAX_POINTS (JSON and Gradescope need it)."""
    if not math.isfinite(total) or total > MAX_POINTS:
        raise ValueError(f"{key} add up to {total:g}; the total must be at most {MAX_POINTS:g}")
    return total

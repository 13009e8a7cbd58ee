"""The sandbox's own settings: the limits on a submission's process, the sandbox modes and the users
it runs as. They live here, not in ``grading/config.py``, so that the sandbox imports nothing from
the rest of the grader (``config.py`` re-exports them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

SANDBOX_MODES: tuple[str, ...] = ("auto", "bwrap", "uid", "none")

NOBODY_UID = 65534  # the conventional unprivileged "nobody" user and "nogroup" group
# ``--jobs N`` as root: slot i runs its submissions as uid/gid SLOT_UID_BASE + i (like isolate's boxes),
# so that process limits, signals and keyrings never cross classmates graded at the same time.
SLOT_UID_BASE = 60000


def default_sandbox_uid() -> Optional[int]:
    """Drop to ``nobody`` when the grader runs as root (Gradescope does); otherwise keep the user."""
    return NOBODY_UID if hasattr(os, "geteuid") and os.geteuid() == 0 else None


# Packages a submission may not use (the reference, the test-side twin, autograd libraries).
FORBIDDEN_IMPORTS: tuple[str, ...] = ("torch", "jax", "tensorflow", "autograd", "handprop", "verify")

from ...settings import MAX_TIMEOUT  # noqa: E402,F401  (seconds per function; kept importable here)

# What the sandbox itself must load for the submission (cases and answers are NumPy arrays): not forbiddable.
SANDBOX_NEEDS: tuple[str, ...] = ("numpy",)


@dataclass(frozen=True)
class SandboxLimits:
    """Limits on the process that runs a submission.

    ``timeout`` is wall-clock seconds per function (all its cases) and for importing the file;
    ``uid``/``gid`` is the unprivileged user the child runs as (``None``: the grader's own user).
    ``memory_mb`` bounds the address space (RLIMIT_AS) and, where a cgroup can be made, the memory
    the submission's processes hold, shared memory and tmpfs pages included. ``slot_uid_base``:
    with several jobs, slot i runs as ``slot_uid_base + i``. ``allow_weaker``: run even when a layer
    the threat model counts on cannot be set up (for code you trust; docs/grading.md).
    """

    timeout: float = 10.0
    memory_mb: int = 1024  # RLIMIT_AS: address space, so numpy's import must fit in it
    max_processes: int = 8  # RLIMIT_NPROC: counts every process (and thread) of the child's user
    max_file_mb: int = 64  # RLIMIT_FSIZE: largest file the child may write
    uid: Optional[int] = field(default_factory=default_sandbox_uid)
    gid: Optional[int] = None  # defaults to uid when uid is set
    forbidden_imports: tuple[str, ...] = FORBIDDEN_IMPORTS  # bwrap: not visible at all; else refused by a hook
    max_result_mb: int = 64  # bytes one function's results may take coming back (all its cases)
    max_open_files: int = 64  # RLIMIT_NOFILE: descriptors the child may hold at once
    slot_uid_base: int = SLOT_UID_BASE
    allow_weaker: bool = False

    def __post_init__(self) -> None:
        from ... import settings  # one check per setting, shared with the CLI and the course file

        settings.timeout(self.timeout)
        settings.memory_mb(self.memory_mb)
        settings.processes(self.max_processes)
        settings.file_mb(self.max_file_mb)
        settings.file_mb(self.max_result_mb, "max_result_mb")
        settings.uid(self.uid)
        settings.uid(self.gid, "gid")
        settings.integer(self.max_open_files, "max_open_files", 1)
        if self.max_open_files < 16:
            raise ValueError(f"max_open_files must be at least 16 (Python and NumPy need them), got {self.max_open_files}")
        base = self.slot_uid_base
        if isinstance(base, bool) or not isinstance(base, int) or not 1000 <= base < 2**31 - 1024:
            raise ValueError(f"slot_uid_base must be an unprivileged uid (1000 or more), got {base!r}")
        if not isinstance(self.allow_weaker, bool):
            raise ValueError(f"allow_weaker must be true or false, got {self.allow_weaker!r}")
        if isinstance(self.forbidden_imports, str) or not all(
            isinstance(m, str) and m.isidentifier() for m in self.forbidden_imports
        ):
            raise ValueError(f"forbidden_imports must be a sequence of module names, got {self.forbidden_imports!r}")
        needed = sorted(set(self.forbidden_imports) & set(SANDBOX_NEEDS))
        if needed:  # the cases and the answers are NumPy arrays: the sandbox loads it before any student code
            raise ValueError(
                f"forbidden_imports cannot hold {', '.join(needed)}: the sandbox must load it to hand the cases to the "
                f"submission and its answers back"
            )
        object.__setattr__(self, "forbidden_imports", tuple(self.forbidden_imports))

    @property
    def group(self) -> Optional[int]:
        return self.gid if self.gid is not None else self.uid

    def for_slot(self, slot: int) -> "SandboxLimits":
        """These limits for parallel slot ``slot`` (0-based): its own uid and gid when the grader
        switches users at all (as root); unchanged otherwise."""
        if self.uid is None:
            return self
        from dataclasses import replace

        return replace(self, uid=self.slot_uid_base + slot, gid=self.slot_uid_base + slot)

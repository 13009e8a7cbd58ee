"""One resource budget per submission: a control group of its own, where the hierarchy is writable.

The memory controller counts what RLIMIT_AS does not: pages of tmpfs files, shared memory and
memfd that outlive a ``munmap``; the pids controller counts every process and thread whatever its
user; the cpu controller holds the submission to one core. The group is made before the child
starts, the child joins it before ``exec`` (so everything it starts is in it), and it is removed
once every process of the submission is dead.

cgroup v1 (``memory``, ``pids``, ``cpu`` mounted rw under /sys/fs/cgroup, as here) and v2 (a
writable unified hierarchy with those controllers enabled for its children) are supported. Where
none is writable (Docker's default, Gradescope) the seccomp policy, a low RLIMIT_NOFILE and the
tmpfs size caps carry the budget (docs/grading.md).
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import time
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PREFIX = "handprop-"  # each submission's group: handprop-<grader pid>-<n>-<ns>, beside the grader in its own group
_counter = itertools.count()


def _own_groups() -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup ("" for cgroup v2)."""
    groups: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


@functools.lru_cache(maxsize=None)
def hierarchy() -> tuple[str, tuple[Path, ...]]:
    """("v1", (memory, pids[, cpu]) folders) | ("v2", (folder,)) | ("", ()) where none is writable.
    The folders are the grader's own groups: a submission's group is made inside them, so it stays
    within whatever limits the grader itself runs under, and weighs as much as one process does."""
    if os.geteuid() != 0:
        return "", ()
    own = _own_groups()
    try:
        if all((ROOT / c / "cgroup.procs").exists() for c in ("memory", "pids")):
            folders = []
            for controller in ("memory", "pids", "cpu"):
                parent = ROOT / controller / own.get(controller, "/").lstrip("/")
                if not (parent / "cgroup.procs").exists():
                    continue
                if not os.access(parent, os.W_OK):
                    return "", ()
                folders.append(parent)
            return "v1", tuple(folders)
        controllers = (ROOT / "cgroup.controllers").read_text().split() if (ROOT / "cgroup.controllers").exists() else []
        if {"memory", "pids"} <= set(controllers) and own.get("", "/") == "/":  # v2 delegates only to a leaf-free group
            wanted = [c for c in ("memory", "pids", "cpu") if c in controllers]
            (ROOT / "cgroup.subtree_control").write_text(" ".join("+" + c for c in wanted))
            if {"memory", "pids"} <= set((ROOT / "cgroup.subtree_control").read_text().split()):
                return "v2", (ROOT,)
    except OSError as error:
        logger.debug("no writable cgroup hierarchy: %s", error)
    return "", ()


class Budget:
    """The control group of one child: ``memory`` bytes (RAM, tmpfs and shared memory together),
    ``pids`` processes and threads, one CPU. ``join()`` runs in the child before ``exec``."""

    def __init__(self, memory: int, pids: int) -> None:
        self.version, parents = hierarchy()
        name = f"{PREFIX}{os.getpid()}-{next(_counter)}-{time.monotonic_ns() % 10**9}"
        self.folders: list[Path] = []
        self.procs: list[bytes] = []
        try:
            for parent in parents:
                folder = parent / name
                folder.mkdir(mode=0o755)
                self.folders.append(folder)
                self._configure(folder, _controller(parent) if self.version == "v1" else "", memory, pids)
                self.procs.append(str(folder / "cgroup.procs").encode())
        except OSError as error:
            self.remove()
            raise OSError(error.errno, f"could not set up the submission's cgroup: {error}") from None

    @property
    def active(self) -> bool:
        return bool(self.folders)

    def _configure(self, folder: Path, controller: str, memory: int, pids: int) -> None:
        def write(name: str, value: str) -> None:
            (folder / name).write_text(value)

        if self.version == "v2":
            write("memory.max", str(memory))
            if (folder / "memory.swap.max").exists():
                write("memory.swap.max", "0")
            write("pids.max", str(pids))
            if (folder / "cpu.max").exists():
                write("cpu.max", "100000 100000")
        elif controller == "memory":
            write("memory.limit_in_bytes", str(memory))
            if (folder / "memory.memsw.limit_in_bytes").exists():
                write("memory.memsw.limit_in_bytes", str(memory))
        elif controller == "pids":
            write("pids.max", str(pids))
        elif controller == "cpu":
            write("cpu.cfs_period_us", "100000")
            write("cpu.cfs_quota_us", "100000")

    def join(self) -> None:
        """Move the calling process into the group (in the forked child, before ``exec``; only
        system calls, no allocation that could deadlock)."""
        for path in self.procs:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def remove(self) -> bool:
        """Remove the group once its processes are gone (retried briefly while they are reaped)."""
        ok = True
        for folder in self.folders:
            for attempt in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if attempt == 49:
                        logger.warning("could not remove the cgroup %s: %s", folder, error)
                        ok = False
                    else:
                        self._kill_members(folder)
                        time.sleep(0.02)
        self.folders = []
        return ok

    @staticmethod
    def _kill_members(folder: Path) -> None:
        import signal

        try:
            members = (folder / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in members:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def _controller(folder: Path) -> str:
    """The v1 controller a folder under /sys/fs/cgroup belongs to (its first part below the root)."""
    return folder.relative_to(ROOT).parts[0]


def budget(memory: int, pids: int) -> Optional[Budget]:
    """A new group, or None where no hierarchy is writable. Raises OSError when one is writable but
    the group cannot be made."""
    if not hierarchy()[0]:
        return None
    return Budget(memory, pids)

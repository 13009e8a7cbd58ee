"""Containment that does not depend on the uid: the grader is a child subreaper, so every process a
submission starts stays its descendant (even after ``setsid`` and a double fork), and every
descendant outside the grader's own session is killed after each submission, whatever its user."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time

logger = logging.getLogger(__name__)

PR_SET_CHILD_SUBREAPER = 36
_subreaper: bool | None = None


def become_subreaper() -> bool:
    """Make orphaned sandbox processes re-parent to the grader instead of init (Linux only)."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            try:
                _subreaper = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                pass
        if not _subreaper:
            logger.warning("could not become a child subreaper; escaped sandbox processes may survive")
    return _subreaper


def process_table() -> dict[int, tuple[int, int, str, int]]:
    """pid → (ppid, session id, state, real uid) for every visible process (Linux /proc)."""
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            uid = os.stat(f"/proc/{entry}").st_uid
        except (OSError, IndexError):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[3]), fields[0].decode(), uid)
    return table


def kill_escaped(rounds: int = 50) -> int:
    """SIGKILL and reap every descendant of the grader that left its session (sandbox processes run
    in sessions of their own), whatever user it runs as. Returns how many were killed.

    Parallel grading should use processes, not threads: each grading process kills only its own
    descendants, but a thread would kill its siblings' sandboxes.
    """
    my_pid, my_sid = os.getpid(), os.getsid(0)
    total = 0
    for _ in range(rounds):
        table = process_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _sid, _state, _uid) in table.items():
            children.setdefault(ppid, []).append(pid)
        stack, targets = list(children.get(my_pid, [])), []
        while stack:
            pid = stack.pop()
            stack.extend(children.get(pid, []))
            ppid, sid, state, _owner = table[pid]
            if sid != my_sid:
                targets.append((pid, ppid, state))
        if not targets:
            return total
        for pid, _ppid, state in targets:
            if state != "Z":
                try:
                    os.kill(pid, signal.SIGKILL)
                    total += 1
                except (ProcessLookupError, PermissionError):
                    pass
        time.sleep(0.01)
        for pid, ppid, _state in targets:
            if ppid == my_pid:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
    logger.warning("sandbox processes were still appearing after %d rounds of killing", rounds)
    return total


def hide_command_line(keep: int = 2) -> bool:
    """Blank this process's command line after its first ``keep`` words, as ``/proc/<pid>/cmdline``
    shows it to every user (the seed, ``--hidden`` and the output path would be readable by a
    submission that can see the grader's /proc entry, as in the uid sandbox). Python has already
    copied ``sys.argv``; this overwrites the kernel's copy in our own memory, as setproctitle does.
    Returns whether it did (Linux only)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49 of stat)
        with open("/proc/self/cmdline", "rb") as f:
            words = f.read().split(b"\0")
    except (OSError, IndexError, ValueError):
        return False
    offset = sum(len(w) + 1 for w in words[:keep])
    if start + offset >= end:
        return True
    ctypes.memset(start + offset, 0, end - start - offset)
    return True

"""Run an untrusted submission in a separate, limited process and read its arrays back safely.

The grader never imports the submission. A child process (``_child.py``, started with
``python -I -c``) imports it and calls its functions on the inputs; results come back as .npz files
in a private folder and are loaded with ``allow_pickle=False`` and checked here (plain numeric
arrays only, size-capped, owned by the sandbox user, no symlinks). The expected values are never
given to the child and never written to disk.

Containment, in layers:
- a new session and process group, killed as a whole (SIGKILL) after a wall-clock timeout;
- the grader becomes a "child subreaper" (Linux), so processes that escape the group with
  ``setsid`` and a double fork are re-parented to it and are found and killed too;
- rlimits set in the child before any student code: CPU seconds, address space, file size,
  number of processes, no core files;
- when the grader runs as root, the child switches to an unprivileged user (``nobody`` by default),
  without supplementary groups, after importing numpy and before running any student code: that
  is what makes the process limit bite (the kernel does not apply RLIMIT_NPROC to root) and what
  keeps the child out of the grader's files. (Switching inside the child rather than before exec
  lets the interpreter live where only root can read it; the modules in ``_child.PRELOAD`` are
  imported first for that case.) As root, the child also enters a new, empty network namespace
  when the kernel lets it (CAP_SYS_ADMIN), so it cannot reach the network.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .config import SandboxLimits

logger = logging.getLogger(__name__)

Array = np.ndarray

CHILD_SOURCE = Path(__file__).with_name("_child.py").read_text(encoding="utf-8")
STARTUP_TIMEOUT = 60.0  # seconds for the child to import numpy and read its inputs (our code, not theirs)
MAX_MESSAGE = 4000  # characters kept of a traceback or message coming back from the child
PR_SET_CHILD_SUBREAPER = 36

CASE_STATUSES = ("ok", "exception", "badreturn")


class SandboxError(RuntimeError):
    """The grader could not run the submission at all (a setup problem, not the student's fault)."""


@dataclass
class CaseRun:
    """What one call returned: ``status`` ok | exception | badreturn, and the arrays if ok."""

    status: str
    message: str = ""
    arrays: dict[str, Array] = field(default_factory=dict)  # "out", or "wn", "w/0"…, "bn", "b/0"…


@dataclass
class FunctionRun:
    """How running one function went.

    ``status``: ran (see ``cases``) | missing | timeout | import-error | crashed | unreadable.
    """

    status: str
    message: str = ""
    cases: dict[int, CaseRun] = field(default_factory=dict)


def run_submission(
    source: bytes, inputs: dict[str, Array], functions: Sequence[str], limits: SandboxLimits
) -> dict[str, FunctionRun]:
    """Run every case of each function in ``functions`` in a sandboxed child; never raises for
    anything the submission does. Raises ``SandboxError`` only when the sandbox itself fails.

    One child serves all functions in turn (one numpy import per submission); a timeout or crash
    ends that child, the function is marked, and a fresh child takes the remaining functions.
    """
    if limits.uid is not None and os.geteuid() != 0:
        raise SandboxError(f"running submissions as uid {limits.uid} needs the grader to run as root")
    _become_subreaper()
    workdir = _private_folder(source, inputs, limits)
    results: dict[str, FunctionRun] = {}
    remaining = list(functions)
    try:
        while remaining:
            child = _Child(workdir, limits, functions=len(remaining))
            try:
                if not _serve(child, workdir, remaining, results, limits):
                    break
            finally:
                child.kill()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def _serve(child: "_Child", workdir: Path, remaining: list[str], results: dict[str, FunctionRun], limits: SandboxLimits) -> bool:
    """Drive one child through ``remaining`` (consumed in place); True means "start another child"."""
    line = child.expect(("started",), STARTUP_TIMEOUT)
    if not line:
        raise SandboxError(
            "the sandbox process could not start (numpy must be importable by the sandbox user and "
            f"within the {limits.memory_mb} MiB memory limit): {child.output_tail() or 'no output'}"
        )
    if line != "started network=isolated" and limits.uid is not None:
        _warn_once("the sandbox could not be cut off the network (no CAP_SYS_ADMIN for unshare); submissions can open connections")
    line = child.expect(("ready", "import-error"), limits.timeout)
    if line is None or line == "":
        if line is None:
            run = FunctionRun("timeout", f"importing your file took longer than {limits.timeout:g} s")
        else:
            run = FunctionRun("import-error", f"the process ended while importing your file ({child.end_reason()})")
        results.update({f: run for f in remaining})
        remaining.clear()
        return False
    if line == "import-error":
        try:
            message = str(read_npz(workdir / "import.npz", child.owner)["error"])[:MAX_MESSAGE]
        except (ValueError, KeyError):
            message = "your file could not be imported"
        results.update({f: FunctionRun("import-error", message) for f in remaining})
        remaining.clear()
        return False
    defined = set(line[len("ready") :].strip().split(","))
    while remaining:
        function = remaining.pop(0)
        if function not in defined:
            results[function] = FunctionRun("missing", f"your file does not define a function named {function}")
            continue
        if not child.send(function + "\n"):
            results[function] = FunctionRun("crashed", f"the process ended before running {function} ({child.end_reason()})")
            return True
        line = child.expect((f"done {function}",), limits.timeout)
        if line is None:
            results[function] = FunctionRun("timeout", f"{function} did not return within {limits.timeout:g} s")
            return True
        if line == "":
            reason = child.end_reason()
            status = "timeout" if "CPU time" in reason else "crashed"
            results[function] = FunctionRun(status, f"the process ended while running {function} ({reason})")
            return True
        results[function] = _read_function(workdir / f"out_{function}.npz", function, child.owner)
    return False


def _read_function(path: Path, function: str, owner: int) -> FunctionRun:
    try:
        arrays = read_npz(path, owner)
    except ValueError as error:
        return FunctionRun("unreadable", f"the results of {function} could not be read back: {error}")
    cases: dict[int, CaseRun] = {}
    for key, value in arrays.items():
        parts = key.split("/")
        if len(parts) < 3 or parts[0] != function or not parts[1].isdigit():
            continue  # not ours to read; ignored
        number, rest = int(parts[1]), "/".join(parts[2:])
        case = cases.setdefault(number, CaseRun("badreturn", "no status came back"))
        if rest in ("status", "message"):
            if value.dtype.kind != "U" or value.ndim != 0:
                continue
            if rest == "status":
                case.status = str(value) if str(value) in CASE_STATUSES else "badreturn"
            else:
                case.message = str(value)[:MAX_MESSAGE]
        elif value.dtype.kind in "iuf":
            case.arrays[rest] = value.astype(np.float64)
    return FunctionRun("ran", cases=cases)


def read_npz(path: Path, owner: Optional[int], max_bytes: int = 256 * 2**20) -> dict[str, Array]:
    """Load an .npz written by the child, trusting nothing about it.

    Refuses symlinks (O_NOFOLLOW), anything but a regular file, files not owned by ``owner`` (a
    hard link to someone else's file), oversized or compressed members, and any array that is not
    plain numbers or text (``allow_pickle=False`` already rules out objects). Raises ValueError.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise ValueError(f"no readable file ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if owner is not None and info.st_uid != owner:
            raise ValueError("the file is not owned by the sandbox user")
        if info.st_size > max_bytes:
            raise ValueError(f"the file is larger than {max_bytes} bytes")
        data = f.read(max_bytes + 1)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if any(m.compress_type != zipfile.ZIP_STORED for m in members) or sum(m.file_size for m in members) > max_bytes:
                raise ValueError("compressed or oversized members")
        arrays = {}
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            for key in stored.files:
                value = stored[key]
                if value.dtype.hasobject or value.dtype.names is not None or value.dtype.kind not in "iufU":
                    raise ValueError(f"array {key!r} has dtype {value.dtype}, not plain numbers")
                arrays[key] = value
        return arrays
    except ValueError:
        raise
    except Exception as error:  # a malformed archive can raise many things; all mean "unreadable"
        raise ValueError(f"not a valid .npz archive ({type(error).__name__})") from None


# -- the child process ------------------------------------------------------------------------------


class _Child:
    """One sandboxed Python process and the two pipes that talk to it."""

    def __init__(self, workdir: Path, limits: SandboxLimits, functions: int) -> None:
        self.owner = limits.uid if limits.uid is not None else os.geteuid()
        self.workdir = workdir
        request_r, self.request_w = os.pipe()
        self.reply_r, reply_w = os.pipe()
        self.buffer = b""
        cpu = int(limits.timeout * (functions + 1)) + 2  # a backstop: the wall clock usually acts first
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            # One BLAS thread: fewer processes/threads, and numpy's import fits the address-space limit.
            **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")},
        }
        argv = [
            sys.executable, "-I", "-c", CHILD_SOURCE, str(workdir), str(request_r), str(reply_w),
            str(cpu), str(limits.memory_mb * 2**20), str(limits.max_file_mb * 2**20), str(limits.max_processes),
            "-" if limits.uid is None else str(limits.uid), "-" if limits.uid is None else str(limits.group),
        ]  # fmt: skip
        log_path = workdir / "output.txt"
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(request_r, reply_w), start_new_session=True,
            )  # fmt: skip
        os.close(request_r)
        os.close(reply_w)
        self.killed = False

    def send(self, text: str) -> bool:
        try:
            os.write(self.request_w, text.encode())
            return True
        except OSError:  # BrokenPipeError: the child is gone
            return False

    def expect(self, prefixes: tuple[str, ...], timeout: float) -> Optional[str]:
        """The next line starting with one of ``prefixes``; "" if the child closed the pipe (ended),
        None on timeout. Other lines (the student can write to the pipe too) are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith(prefixes):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.reply_r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.reply_r, 65536)
            if not chunk:
                return ""
            self.buffer = (self.buffer + chunk)[-65536:]  # a flood of garbage cannot grow it

    def end_reason(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "it closed its channel"
        if code < 0:
            sig = -code
            names = {signal.SIGXCPU: "CPU time limit reached", signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault"}
            return names.get(sig, f"signal {signal.Signals(sig).name if sig in signal.valid_signals() else sig}")
        return f"exit code {code}"

    def output_tail(self, chars: int = 800) -> str:
        try:
            fd = os.open(self.workdir / "output.txt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - chars))
                return f.read(chars).decode("utf-8", "replace").strip().replace("\n", " | ")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the child's whole process group, then anything that escaped it."""
        if self.killed:
            return
        self.killed = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("sandbox process %d did not end after SIGKILL", self.proc.pid)
        kill_escaped(self.owner if self.owner != os.geteuid() else None)
        for fd in (self.request_w, self.reply_r):
            try:
                os.close(fd)
            except OSError:
                pass


def kill_escaped(uid: Optional[int], rounds: int = 50) -> int:
    """SIGKILL and reap the grader's descendants that left its session (sandbox processes that
    called ``setsid``); with ``uid``, only those running as that user. Returns how many were killed.

    Orphans are re-parented to the grader (a child subreaper), so they stay its descendants.
    """
    my_pid, my_sid = os.getpid(), os.getsid(0)
    total = 0
    for _ in range(rounds):
        table = _process_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _sid, _state, _uid) in table.items():
            children.setdefault(ppid, []).append(pid)
        stack, targets = list(children.get(my_pid, [])), []
        while stack:
            pid = stack.pop()
            stack.extend(children.get(pid, []))
            ppid, sid, state, owner = table[pid]
            if sid != my_sid and (uid is None or owner == uid):
                targets.append((pid, ppid, state))
        if not targets:
            return total
        for pid, ppid, state in targets:
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


def _process_table() -> dict[int, tuple[int, int, str, int]]:
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


_subreaper_done = False
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def _become_subreaper() -> None:
    """Make orphaned sandbox processes re-parent to the grader instead of init (Linux only)."""
    global _subreaper_done
    if _subreaper_done or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            logger.warning("could not become a child subreaper; escaped sandbox processes may survive")
    except (OSError, AttributeError):
        logger.warning("prctl is unavailable; escaped sandbox processes may survive")
    _subreaper_done = True


def _private_folder(source: bytes, inputs: dict[str, Array], limits: SandboxLimits) -> Path:
    """A fresh 0700 folder owned by the sandbox user, holding only the submission and the inputs."""
    workdir = Path(tempfile.mkdtemp(prefix="handprop-grade-"))
    try:
        (workdir / "submission.py").write_bytes(source)
        with open(workdir / "inputs.npz", "wb") as f:
            np.savez(f, **inputs)
        for name in ("submission.py", "inputs.npz"):
            os.chmod(workdir / name, 0o644)
        os.chmod(workdir, 0o700)
        if limits.uid is not None:
            os.chown(workdir, limits.uid, limits.group)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir

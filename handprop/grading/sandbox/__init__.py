"""Run an untrusted submission's functions in a separate, contained process and read back what they
returned, trusting nothing that comes back.

    from handprop.grading.sandbox import Call, run_submission
    run = run_submission(source, [Call("sigmoid", 1, [z])], SandboxLimits(), mode="auto")
    run.functions["sigmoid"].cases[1].value      # the returned value, validated, rebuilt here

Privilege separation: the grader never opens, reads, writes or deletes a path the sandbox user can
change. The source, the arguments and the results travel over pipes the grader created
(``wire.py``); the student's prints go to a third pipe the grader drains; every read and write on
them has a deadline. Inside bwrap, and in the uid mode where mount namespaces are allowed, the
scratch space is a tmpfs of at most ``max_file_mb`` that vanishes with the child; otherwise it is a
fresh folder inside a root-owned one, removed without recursion and without following links
(``cleanup.py``). Which layers were active is reported in
``SubmissionRun.layers``; see ``modes.py`` and docs/grading.md (threat model).
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .limits import SandboxLimits
from . import cgroup as _cgroup
from . import modes as _modes
from . import seccomp as _seccomp
from .cleanup import remove_tree
from .errors import SandboxError
from .modes import MODES, Launch
from .processes import become_subreaper, kill_escaped, process_table
from ...escaping import clean_text, shown_name
from .wire import HEADER, WireError, dump, frame, load, parse_header

logger = logging.getLogger(__name__)

Array = np.ndarray

CHILD_SOURCE = Path(__file__).with_name("_child.py").read_text(encoding="utf-8")
STARTUP_TIMEOUT = 60.0  # seconds for the child to import numpy (our code, not theirs)
SEND_TIMEOUT = 10.0  # seconds to hand the child its inputs (a child that stops reading is cut off)
MAX_ITEMS = 1000  # items in one returned list
MAX_VALUE_ARRAYS = 2000  # arrays in one returned value
MAX_SOURCE = 4 * 2**20

FUNCTION_STATUSES = ("ran", "missing", "timeout", "import-error", "crashed", "unreadable")
CASE_STATUSES = ("ok", "exception", "badreturn")

__all__ = [
    "MODES", "Call", "CaseRun", "FunctionRun", "SandboxError", "SubmissionRun", "clean_text", "kill_escaped",
    "process_table", "read_results", "remove_tree", "run_submission", "shown_name",
]  # fmt: skip


@dataclass
class Call:
    """One case of one function: ``module.<function>(*args)``.

    ``args``: np.ndarray | float | int | list[np.ndarray] (nesting depth <= 2).
    """

    function: str
    number: int  # 1-based case number
    args: list


@dataclass
class CaseRun:
    """What one call did: ``status`` ok | exception | badreturn, ``message``, the returned ``value``
    (validated and rebuilt here: an ndarray of float64 or int64, a float, an int, or a list/tuple of
    those or of lists of those), and ``modified``: the indices of arguments changed in place."""

    status: str
    message: str = ""
    value: Any = None
    modified: list[int] = field(default_factory=list)


@dataclass
class FunctionRun:
    """How running one function went.

    ``status``: ran (see ``cases``) | missing | timeout | import-error | crashed | unreadable.
    """

    status: str
    message: str = ""
    cases: dict[int, CaseRun] = field(default_factory=dict)


@dataclass
class SubmissionRun:
    functions: dict[str, FunctionRun]
    layers: list[str]  # sandbox layers that were active, for the report
    mode: str = ""  # the mode that ran: bwrap | uid | none


def run_submission(
    source: Union[bytes, dict[str, bytes]], calls: list[Call], limits: SandboxLimits, mode: str = "auto"
) -> SubmissionRun:
    """Run every call in a sandboxed child; never raises for anything the submission does. Raises
    ``SandboxError`` only when the sandbox itself cannot run, ValueError for bad arguments.

    ``source``: the submission's Python text, or ``{"name.py": text}`` for several files (the first
    is graded, the others are importable by it). One child serves all functions in turn (one numpy
    import per submission); a timeout or crash ends that child, the function is marked, and a fresh
    child takes the remaining functions.
    """
    sources = _sources(source)
    tasks: dict[str, list[Call]] = {}
    for call in calls:
        if not isinstance(call, Call) or not isinstance(call.function, str) or not call.function.isidentifier():
            raise ValueError(f"calls must be Call objects naming a function, got {call!r}")
        tasks.setdefault(call.function, []).append(call)
    payloads = {f: _task_payload(f, cs) for f, cs in tasks.items()}
    launch = _modes.resolve(mode, limits.uid, limits.group, limits.forbidden_imports, limits.max_file_mb, limits.allow_weaker)
    become_subreaper()
    results: dict[str, FunctionRun] = {}
    layers: Optional[list[str]] = None
    remaining = list(tasks)
    exchange = None if launch.mode == "bwrap" or launch.private_tmp else _exchange_folder()
    try:
        first = True
        while remaining:
            scratch = None if exchange is None else _scratch(exchange, launch)
            budget = _budget(limits)
            try:
                child = _Child(launch, limits, len(remaining), scratch, budget)
            except BaseException:
                if budget is not None:
                    budget.remove()
                if scratch is not None:
                    remove_tree(scratch)
                raise
            try:
                again, child_layers = _serve(child, sources, remaining, tasks, payloads, results, limits, first)
                if layers is None and child_layers is not None:
                    layers = launch.layers + [x for x in child_layers if x not in launch.layers]
                    if budget is not None:
                        layers.append("cgroup")
            finally:
                child.kill()
                if budget is not None:
                    budget.remove()
                if scratch is not None:
                    remove_tree(scratch)
            first = False
            if not again:
                break
    finally:
        if exchange is not None:
            remove_tree(exchange)
    for f in remaining:
        results.setdefault(f, FunctionRun("crashed", "the sandbox ended before this function ran"))
    return SubmissionRun({f: results[f] for f in tasks}, sorted(set((layers or launch.layers) + ["subreaper-kill"]), key=_layer_order), launch.mode)


_LAYER_ORDER = ("bwrap", "mount-namespace", "pid-namespace", "no-network", "private-tmp", "private-proc", "read-only-system",
                "packages-hidden", "uid", "drop-before-exec", "packages-unreadable", "rlimits", "no-new-privs", "seccomp",
                "cgroup", "non-dumpable", "dies-with-grader", "subreaper-kill")  # fmt: skip


def _budget(limits: SandboxLimits) -> "Optional[_cgroup.Budget]":
    """The child's own cgroup (memory with tmpfs and shared memory counted, processes, one CPU), or
    None where no hierarchy is writable. Memory: twice the address-space limit (the page cache of the
    interpreter's own files is charged too, and a group at its limit thrashes instead of failing)
    plus the scratch space: every process of the submission together, whatever RLIMIT_AS misses."""
    try:
        return _cgroup.budget((2 * limits.memory_mb + limits.max_file_mb) * 2**20, limits.max_processes + 4)
    except OSError as error:
        raise SandboxError(str(error)) from None


def _layer_order(name: str) -> int:
    return _LAYER_ORDER.index(name) if name in _LAYER_ORDER else len(_LAYER_ORDER)


def _sources(source: Union[bytes, dict[str, bytes]]) -> dict[str, str]:
    if isinstance(source, (bytes, bytearray)):
        source = {"submission.py": bytes(source)}
    if not isinstance(source, dict) or not source:
        raise ValueError("source must be bytes or a non-empty dict of file name to bytes")
    out = {}
    for name, text in source.items():
        if not (isinstance(name, str) and name.endswith(".py") and name[:-3].isidentifier()):
            raise ValueError(f"submission file names must be NAME.py, got {name!r}")
        if not isinstance(text, (bytes, bytearray)):
            raise ValueError(f"the source of {name} must be bytes")
        out[name] = bytes(text).decode("utf-8", "surrogateescape")
    if sum(len(t) for t in out.values()) > MAX_SOURCE:
        raise ValueError(f"the submission is larger than {MAX_SOURCE} bytes")
    return out


def _task_payload(function: str, calls: list[Call]) -> bytes:
    arrays: list[Array] = []

    def spec(value: Any, depth: int) -> dict:
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {"t": "array", "k": len(arrays) - 1}
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (list, int, float, np.integer, np.floating)):
            raise ValueError(f"a call argument must be an array, a number or a list of arrays, got {type(value).__name__}")
        if isinstance(value, list):
            if depth >= 2:
                raise ValueError("call arguments may nest lists at most twice")
            return {"t": "list", "items": [spec(v, depth + 1) for v in value]}
        if isinstance(value, (float, np.floating)):
            return {"t": "float", "v": float(value)}
        return {"t": "int", "v": int(value)}

    cases = []
    for call in calls:
        if type(call.number) is not int or call.number < 1:
            raise ValueError(f"case numbers must be positive integers, got {call.number!r}")
        cases.append({"number": call.number, "args": [spec(a, 1) for a in call.args]})
    return dump({"function": function, "cases": cases}, arrays)


def _exchange_folder() -> Path:
    """A root-owned folder, traversable but not listable by others, holding one scratch folder."""
    folder = Path(tempfile.mkdtemp(prefix="handprop-grade-"))
    os.chmod(folder, 0o711)
    return folder


def _scratch(exchange: Path, launch: Launch) -> Path:
    """A fresh, empty scratch folder for one child, owned by the sandbox user."""
    scratch = Path(tempfile.mkdtemp(dir=exchange, prefix="scratch-"))
    if launch.uid is not None:
        os.chown(scratch, launch.uid, launch.gid)
    os.chmod(scratch, 0o700)
    return scratch


def _serve(child: "_Child", sources: dict[str, str], remaining: list[str], tasks: dict[str, list[Call]],
           payloads: dict[str, bytes], results: dict[str, FunctionRun], limits: SandboxLimits,
           first: bool) -> tuple[bool, Optional[list[str]]]:  # fmt: skip
    """Drive one child through ``remaining`` (consumed in place). Returns (start another child?,
    the layers the child reported)."""
    got = child.receive(b"HE", STARTUP_TIMEOUT, 2**16)
    if not isinstance(got, tuple) or got[0] == b"E":
        detail = got[1].decode("utf-8", "replace") if isinstance(got, tuple) else child.output_tail()
        if not first:  # it started before: the student's doing (e.g. exhausted the process limit)
            results.update({f: FunctionRun("crashed", f"the sandbox could not restart: {detail}") for f in remaining})
            remaining.clear()
            return False, None
        raise SandboxError(_startup_failure(detail, limits))
    try:
        reported = json.loads(got[1])["layers"]
        child_layers = [x for x in reported if isinstance(x, str) and x in _LAYER_ORDER]
    except (ValueError, KeyError, TypeError):
        child_layers = []
    setup = {"functions": list(remaining), "forbidden": list(limits.forbidden_imports), "main": next(iter(sources))}
    if not (child.send(frame(b"S", json.dumps(setup).encode())) and child.send(frame(b"P", json.dumps(sources).encode()))):
        results.update({f: FunctionRun("crashed", f"the process ended before it received your file ({child.end_reason()})") for f in remaining})
        remaining.clear()
        return False, child_layers
    got = child.receive(b"RI", limits.timeout, 2**20)
    if got is None or isinstance(got, str):
        if got is None:
            run = FunctionRun("timeout", f"importing your file took longer than {limits.timeout:g} s")
        else:
            run = FunctionRun("import-error", f"the process ended while importing your file ({got})")
        results.update({f: run for f in remaining})
        remaining.clear()
        return False, child_layers
    if got[0] == b"I":
        message = clean_text(got[1].decode("utf-8", "replace")) or "your file could not be imported"
        results.update({f: FunctionRun("import-error", message) for f in remaining})
        remaining.clear()
        return False, child_layers
    try:
        defined = set(json.loads(got[1]))
    except (ValueError, TypeError):
        defined = set()
    while remaining:
        function = remaining.pop(0)
        if function not in defined:
            results[function] = FunctionRun("missing", f"your file does not define a function named {function}")
            continue
        if not child.send(frame(b"F", payloads[function]), limits.timeout):
            results[function] = FunctionRun("crashed", f"the process stopped reading before running {function}")
            return True, child_layers
        deadline = time.monotonic() + limits.timeout  # reading and parsing the results count against it
        got = child.receive(b"D", limits.timeout, limits.max_result_mb * 2**20)
        if got is None:
            results[function] = FunctionRun("timeout", f"{function} did not return within {limits.timeout:g} s")
            return True, child_layers
        if isinstance(got, str):
            status = "timeout" if "CPU time" in got else ("unreadable" if got.startswith("unreadable") else "crashed")
            results[function] = FunctionRun(status, f"the process ended while running {function} ({got})")
            return True, child_layers
        results[function] = read_results(got[1], function, tasks[function], limits, max(deadline, time.monotonic() + 1.0))
    return False, child_layers


def _startup_failure(detail: str, limits: SandboxLimits) -> str:
    if "MemoryError" in detail or "memory" in detail.lower() or limits.memory_mb < 128:
        return (f"the sandbox's memory limit of {limits.memory_mb} MiB is too small for Python and NumPy to start; "
                "give at least 256 MiB (--memory-mb 256)")  # fmt: skip
    detail = clean_text(detail).replace("\n", " | ")[:300]
    return f"the sandbox process could not start (numpy must be importable by the sandbox user): {detail or 'no output'}"


# -- reading results back ------------------------------------------------------------------------


def read_results(data: bytes, function: str, calls: list[Call], limits: SandboxLimits, deadline: Optional[float] = None) -> FunctionRun:
    """Validate and rebuild the results of one function; anything malformed makes it unreadable, and
    so does a parse still going at ``deadline`` (time.monotonic)."""
    try:
        max_bytes = limits.max_result_mb * 2**20
        meta, arrays = load(data, MAX_VALUE_ARRAYS * len(calls), max_bytes, deadline=deadline, max_elements=max_bytes // 8)
        if not isinstance(meta, dict) or meta.get("function") != function or not isinstance(meta.get("cases"), dict):
            raise WireError("the results do not describe this function")
        args = {c.number: len(c.args) for c in calls}
        cases: dict[int, CaseRun] = {}
        used: set[int] = set()
        for key, entry in meta["cases"].items():
            if deadline is not None and time.monotonic() > deadline:
                raise WireError("reading the results back took longer than the time limit")
            number = _count(key, "case number")
            if number not in args or not isinstance(entry, dict):
                raise WireError(f"results for a case that was not asked for ({str(key)[:20]!r})")
            status = entry.get("status")
            if status not in CASE_STATUSES:
                raise WireError(f"an unknown case status {str(status)[:20]!r}")
            message = entry.get("message", "")
            if not isinstance(message, str):
                raise WireError("a case message is not text")
            modified = entry.get("modified", [])
            if not isinstance(modified, list) or len(modified) > args[number]:
                raise WireError("the list of modified arguments is invalid")
            modified = sorted({_count(i, "argument index") for i in modified})
            if any(i >= args[number] for i in modified):
                raise WireError("a modified argument index is out of range")
            value = None
            if status == "ok":
                budget = [MAX_VALUE_ARRAYS]
                value = _rebuild(entry.get("value"), arrays, 0, used, budget)
            cases[number] = CaseRun(status, clean_text(message), value, modified)
        return FunctionRun("ran", cases=cases)
    except (WireError, RecursionError) as error:
        return FunctionRun("unreadable", f"the results of {function} could not be read back: {error}")


def _count(value: Any, what: str) -> int:
    """A plain non-negative integer (also from its decimal text), else WireError."""
    if isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 9:
        value = int(value)
    if type(value) is not int or not 0 <= value <= 10**9:
        raise WireError(f"a {what} is not a non-negative integer ({str(value)[:20]!r})")
    return value


def _rebuild(spec: Any, arrays: list[Array], depth: int, used: set[int], budget: list[int]) -> Any:
    if not isinstance(spec, dict) or spec.get("t") not in ("array", "float", "int", "list", "tuple"):
        raise WireError("a returned value has an unknown description")
    kind = spec["t"]
    if kind in ("list", "tuple"):
        items = spec.get("items")
        if depth >= 2 or not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise WireError("a returned list is nested too deeply or too long")
        built = [_rebuild(item, arrays, depth + 1, used, budget) for item in items]
        return built if kind == "list" else tuple(built)
    key = spec.get("k")
    if type(key) is not int or not 0 <= key < len(arrays) or key in used:
        raise WireError("a returned array is missing")
    used.add(key)
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError("too many arrays came back for one case")
    array = arrays[key]
    if kind == "array":
        return array.astype(np.float64) if array.dtype.kind in "fb" or array.dtype == np.uint64 else array.astype(np.int64)
    if array.ndim != 0:
        raise WireError("a returned number is not a scalar")
    if kind == "float":
        return float(array)
    if array.dtype.kind not in "iu":
        raise WireError("a returned integer is not an integer")
    return int(array)


# -- the child process -----------------------------------------------------------------------------


class _Child:
    """One sandboxed Python process and the three pipes that talk to it."""

    def __init__(self, launch: Launch, limits: SandboxLimits, functions: int, scratch: Optional[Path],
                 budget: "Optional[_cgroup.Budget]" = None) -> None:
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        self.output_r, output_w = os.pipe()
        for fd in (self.to_child, self.from_child, self.output_r):
            os.set_blocking(fd, False)
        self.buffer = bytearray()
        self.tail = bytearray()
        self.output_open = True  # until the child's stdout/stderr reach end of file
        self.killed = False
        cpu = int(limits.timeout * (functions + 1)) + 2  # a backstop: the wall clock usually acts first
        home = str(scratch) if scratch is not None else _modes.SCRATCH
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
            # One BLAS thread: fewer processes/threads, and numpy's import fits the address-space limit.
            **{v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")},
        }  # fmt: skip
        config = {
            "in": to_child_r, "out": from_child_w, "cpu": cpu, "memory": limits.memory_mb * 2**20,
            "fsize": limits.max_file_mb * 2**20, "nproc": limits.max_processes, "path": launch.path,
            "uid": None if launch.drop_before_exec else launch.uid, "gid": launch.gid,
            "preload": launch.preload, "unshare_net": launch.unshare_net and os.geteuid() == 0,
            "grader": os.getpid(), "mnt": os.readlink("/proc/self/ns/mnt") if os.path.exists("/proc/self/ns/mnt") else "",
            "nofile": limits.max_open_files, "seccomp": None, "need_seccomp": False,
        }  # fmt: skip
        prefix, pass_fds, policy_fd = list(launch.prefix), [to_child_r, from_child_w], None
        works, _why = _seccomp.available()
        if works and launch.mode == "bwrap":  # bwrap loads it right before it starts the interpreter
            policy_fd = _seccomp.program_fd()
            prefix += ["--seccomp", str(policy_fd)]
            pass_fds.append(policy_fd)
            config["need_seccomp"] = True
        elif works and launch.mode != "none":  # the child loads it once its set-up is done, before the student's code
            config["seccomp"] = _seccomp.program().hex()
            config["need_seccomp"] = True
        argv = [*prefix, launch.python, "-I", "-S", "-c", CHILD_SOURCE, json.dumps(config)]
        kwargs: dict[str, Any] = {}
        steps = [budget.join] if budget is not None else []  # first, as root: everything it starts is counted
        if launch.mode == "uid":  # namespaces (and the user switch, where it can come first) before exec
            config["unshare_net"] = False
            argv[-1] = json.dumps(config)
            uid = launch.uid if launch.drop_before_exec else None
            steps.append(_modes.isolator(uid, launch.gid, launch.unshare_net, launch.private_tmp))
        if steps:

            def before_exec() -> None:
                for step in steps:
                    step()

            kwargs["preexec_fn"] = before_exec
        try:
            self.proc = subprocess.Popen(
                argv, cwd=scratch or "/", env=env, stdin=subprocess.DEVNULL, stdout=output_w, stderr=output_w,
                pass_fds=tuple(pass_fds), start_new_session=True, **kwargs,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as error:  # SubprocessError: the isolation before exec failed
            for fd in (self.to_child, self.from_child, self.output_r):
                os.close(fd)
            hint = "; the uid sandbox needs root and mount namespaces here: try --sandbox bwrap" if launch.mode == "uid" else ""
            raise SandboxError(f"the sandbox process could not be started ({error}){hint}") from None
        finally:
            for fd in (to_child_r, from_child_w, output_w, *([policy_fd] if policy_fd is not None else [])):
                os.close(fd)

    def send(self, data: bytes, timeout: float = SEND_TIMEOUT) -> bool:
        """Write all of ``data`` within ``timeout`` (draining the child's output meanwhile)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, writable, _ = select.select(self._outputs(), [self.to_child], [], left)
            if readable:
                self._drain()
            if writable:
                try:
                    view = view[os.write(self.to_child, view) :]
                except BlockingIOError:
                    continue
                except OSError:  # BrokenPipeError: the child is gone
                    return False
        return True

    def receive(self, kinds: bytes, timeout: float, max_bytes: int):
        """The next frame (kind, payload) of one of ``kinds``; None on timeout; a string saying why
        when the child ended or broke the protocol (the child is then killed)."""
        deadline = time.monotonic() + timeout
        need, kind = HEADER, None
        while True:
            if len(self.buffer) >= need:
                if kind is None:
                    try:
                        kind, need = parse_header(bytes(self.buffer[:HEADER]), kinds, max_bytes)
                    except WireError as error:
                        self.kill()
                        return f"unreadable: {error}"
                    del self.buffer[:HEADER]
                    continue
                if len(self.buffer) == need:  # always, as reads stop at the frame's end: no copy
                    payload, self.buffer = self.buffer, bytearray()
                else:
                    payload = bytes(self.buffer[:need])
                    del self.buffer[:need]
                return kind, payload
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([self.from_child, *self._outputs()], [], [], left)
            if self.output_r in readable:
                self._drain()
            if self.from_child in readable:
                try:
                    chunk = os.read(self.from_child, min(max(need - len(self.buffer), 1), 2**20))
                except BlockingIOError:
                    continue
                if not chunk:
                    return self.end_reason()
                self.buffer += chunk

    def _outputs(self) -> list[int]:
        return [self.output_r] if self.output_open else []

    def _drain(self) -> None:
        if not self.output_open:
            return
        try:
            chunk = os.read(self.output_r, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # closed by the child: stop watching it, or select would spin
            self.output_open = False
        self.tail = (self.tail + chunk)[-2000:]

    def output_tail(self) -> str:
        self._drain()
        return self.tail.decode("utf-8", "replace").strip()

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

    def kill(self) -> None:
        """SIGKILL the child's whole process group, then every descendant that escaped it."""
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
        kill_escaped()
        for fd in (self.to_child, self.from_child, self.output_r):
            try:
                os.close(fd)
            except OSError:
                pass

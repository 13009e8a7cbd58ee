"""The program that runs inside the sandbox. The grader passes this file's text to
``python -I -S -c`` (no site, no .pth files, no environment variables, no current folder on the path),
so the child never imports handprop nor anything but the standard library and NumPy.

Everything travels over two pipes the grader created (see ``wire.py``); the child opens no file the
grader reads, and the student's stdout/stderr go to a third pipe the grader drains.
  child → grader  H {layers}          limits set, numpy imported, user switched: before student code
  child → grader  E message           the child could not start (e.g. NumPy does not fit the memory limit)
  grader → child  S {functions, forbidden}   then  P {name: source}
  child → grader  R [defined names]   or  I message (importing the submission failed)
  grader → child  F array message (function, cases, args)
  child → grader  D array message (results)   every value as arrays plus a JSON description
An array message is wire.py's fixed layout (a header with counts, dtypes and shapes, JSON, raw
little-endian bytes): no zip, .npy or pickle is parsed on either side.
The child never interprets a function's meaning: it calls ``module.<function>(*args)`` with fresh
copies for each case and describes what came back. The grader re-validates all of it.
"""

import os
import resource
import signal
import sys


PRELOAD = (
    "math", "random", "functools", "itertools", "collections", "copy", "dataclasses", "typing",
    "warnings", "time", "re", "operator", "numbers", "statistics", "json", "numpy.linalg", "numpy.random",
    "importlib.util", "zipfile", "linecache", "tokenize", "tempfile", "shutil", "glob", "pathlib",
    "subprocess", "socket", "textwrap", "string", "struct", "threading", "signal", "ctypes",
)  # fmt: skip
MAX_ITEMS = 1000  # items of a returned list; the grader enforces its own caps too
MAX_ARRAYS = 2000  # arrays in one returned value
MAX_MESSAGE = 4000


class BadReturn(Exception):
    """A returned value that is not numbers in the documented structure; the message says why."""


def decode(spec, arrays):
    kind = spec["t"]
    if kind == "array":
        return arrays[spec["k"]].copy()  # k: the array's index in the message
    if kind == "list":
        return [decode(item, arrays) for item in spec["items"]]
    return float(spec["v"]) if kind == "float" else int(spec["v"])


def encode(value, depth, out, limit, what="the returned value"):
    """Describe ``value`` for the wire, its arrays appended to the list ``out``; BadReturn for anything but real
    numbers in lists and tuples. ``handprop.check_backprop`` passes its in-process results through
    this same gate, so a value is judged alike in the sandbox and out of it."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        raise BadReturn(f"{what} is a bool, expected numbers")
    if isinstance(value, (int, float, np.integer, np.floating)):
        array = np.array(value)
        if array.dtype.kind not in "iuf":
            raise BadReturn(f"{what} is not a real number")
        out.append(array)
        return {"t": "float" if array.dtype.kind == "f" else "int", "k": len(out) - 1}
    if len(out) >= limit:
        raise BadReturn(f"the returned value holds more than {MAX_ARRAYS} arrays")
    if isinstance(value, np.ndarray):
        array = np.array(value, copy=True, subok=False)
        if array.dtype.kind not in "iuf" or array.dtype.names is not None:
            raise BadReturn(f"{what} has dtype {array.dtype}, expected numbers (float64)")
        out.append(np.ascontiguousarray(array))
        return {"t": "array", "k": len(out) - 1}
    if isinstance(value, (list, tuple)):
        if depth >= 2:
            raise BadReturn(f"{what} is nested too deeply (lists of lists of lists)")
        items = list(value)
        if len(items) > MAX_ITEMS:
            raise BadReturn(f"{what} has {len(items)} items; at most {MAX_ITEMS} are accepted")
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "items": [encode(v, depth + 1, out, limit, f"item {i} of {what}") for i, v in enumerate(items)]}
    raise BadReturn(f"{what} is a {type(value).__name__}, expected a NumPy array of numbers")


def _limit(kind, value):
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))  # hard = soft: the student's code cannot raise it


def _enter_pid_namespace(grader):
    """Where the grader started us with a new PID namespace for our children (uid mode, as root),
    fork once so that everything of the student's runs in it: a ``kill(-1)`` or a scan of PIDs
    then reaches only this submission's processes, never a classmate graded at the same time nor
    any other process of the sandbox user. This process stays outside, waits, and ends the way
    the inner one ended. True in the inner process when it is the init of a new namespace."""
    try:
        if os.readlink("/proc/self/ns/pid") == os.readlink("/proc/self/ns/pid_for_children"):
            return False
    except FileNotFoundError:
        pass  # pid_for_children does not resolve in a new namespace that has no process yet
    except OSError:
        return False
    pid = os.fork()
    if pid == 0:
        return os.getpid() == 1
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG SIGKILL: die with the grader
    if os.getppid() != grader:
        os._exit(1)
    for fd in range(3, 256):  # the pipes: end of file for the grader as soon as the inner one ends
        try:
            os.close(fd)
        except OSError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main():
    import json

    config = json.loads(sys.argv[1])
    requests = os.fdopen(config["in"], "rb", buffering=0)
    replies = config["out"]

    def send(kind, payload):
        data = kind + len(payload).to_bytes(8, "big") + payload
        view = memoryview(data)
        while view:
            view = view[os.write(replies, view) :]

    def receive():
        def exact(n):
            chunks, left = [], n
            while left:
                chunk = requests.read(left)
                if not chunk:
                    raise SystemExit(0)  # the grader closed the pipe: we are done
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)

        header = exact(9)
        return header[:1], exact(int.from_bytes(header[1:], "big"))

    # Limits go on before numpy and long before the student's code; they cannot be raised again.
    _limit(resource.RLIMIT_CPU, config["cpu"])
    _limit(resource.RLIMIT_AS, config["memory"])
    _limit(resource.RLIMIT_FSIZE, config["fsize"])
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_NOFILE, config["nofile"])  # few descriptors: no hoard of files, pipes or sockets
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises OSError instead of killing us
    layers = ["rlimits"]
    in_pid_namespace = _enter_pid_namespace(config["grader"])
    if in_pid_namespace:
        layers.append("pid-namespace")
    sys.path[:] = [p for p in sys.path if p] + config["path"]
    try:
        import ctypes
        import io
        import traceback
        import types

        import numpy as np
    except BaseException as error:  # MemoryError under a tiny limit, a missing numpy
        send(b"E", f"{type(error).__name__}: {error}".encode("utf-8", "backslashreplace")[:MAX_MESSAGE])
        return
    if config["preload"]:
        # Modules a submission may reasonably import, loaded while the standard library is certainly
        # readable: after the switch below it may not be (a Python where only root can read it).
        for name in PRELOAD:
            try:
                __import__(name)
            except ImportError:
                pass
        # What the protocol itself loads lazily: an array message round trip and a formatted traceback.
        unpack(np, json, pack(np, json, {}, [np.zeros(1)]))
        try:
            raise ValueError("warm-up")
        except ValueError as error:
            traceback.format_exception(type(error), error, error.__traceback__)
    libc = ctypes.CDLL(None, use_errno=True)
    if in_pid_namespace and os.geteuid() == 0 and config["mnt"] and os.readlink("/proc/self/ns/mnt") != config["mnt"]:
        # A /proc of our own PID namespace, in our private mount namespace: no other process of the
        # host (a classmate's child, the grader) is visible, so none can be opened through /proc.
        if libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, None) == 0:  # MS_NOSUID | MS_NODEV | MS_NOEXEC
            layers.append("private-proc")
    if config["unshare_net"]:
        # A new, empty network namespace (needs CAP_SYS_ADMIN, which a container may lack).
        libc.unshare(0x40000000)  # CLONE_NEWNET
    try:
        import socket

        if all(name == "lo" for _, name in socket.if_nameindex()):
            layers.append("no-network")  # only the loopback of an empty namespace
    except (ImportError, OSError):
        pass
    uid = config["uid"]
    if uid is not None:
        # Become the unprivileged sandbox user for good (real, effective and saved ids), with no
        # supplementary groups, before any of the student's code runs.
        os.setgroups([])
        os.setgid(config["gid"])
        os.setuid(uid)
        if os.getuid() != uid or os.geteuid() != uid or os.getgid() != config["gid"]:
            send(b"E", b"could not switch to the sandbox user")
            return
    _limit(resource.RLIMIT_NPROC, config["nproc"])  # counts the processes of the (now) sandbox user
    parent = config["grader"] if os.getpid() != 1 else 0  # 0: our parent waits outside the namespace
    if libc.prctl(1, 9, 0, 0, 0) == 0 and os.getppid() == parent:  # PR_SET_PDEATHSIG SIGKILL
        layers.append("dies-with-grader")  # (set after the user switch, which would clear it)
    if libc.prctl(38, 1, 0, 0, 0) == 0:  # PR_SET_NO_NEW_PRIVS: a set-uid program cannot gain privileges
        layers.append("no-new-privs")
    if libc.prctl(4, 0, 0, 0, 0) == 0:  # PR_SET_DUMPABLE 0: no ptrace, /proc/<pid> owned by root
        layers.append("non-dumpable")
    if config["seccomp"]:
        # The system-call policy (seccomp.py), last: after no_new_privs, before the student's code.
        program = bytes.fromhex(config["seccomp"])
        buffer = ctypes.create_string_buffer(program, len(program))

        class SockFprog(ctypes.Structure):  # struct sock_fprog
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
        libc.prctl(22, 2, ctypes.byref(fprog), 0, 0)  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    try:
        with open("/proc/self/status", "rb") as status:
            filtered = any(line.split() == [b"Seccomp:", b"2"] for line in status)
    except OSError:
        filtered = False
    if filtered:
        layers += ["seccomp"] + (["no-network"] if "no-network" not in layers else [])  # no socket but AF_UNIX
    elif config["need_seccomp"]:
        send(b"E", b"the system-call policy (seccomp) could not be installed")
        return
    os.umask(0o077)
    send(b"H", json.dumps({"layers": layers}).encode())

    kind, payload = receive()
    setup = json.loads(payload)
    kind, payload = receive()
    sources = {name: text.encode("utf-8", "surrogateescape") for name, text in json.loads(payload).items()}
    main_name = setup["main"]
    forbidden = tuple(setup["forbidden"])

    def trimmed(error):
        files = {name for name in sources}
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in files]
        lines = traceback.format_list(frames[-6:]) + traceback.format_exception_only(type(error), error)
        text = "".join(lines)
        return text if len(text) <= 3000 else text[:1500] + "\n...\n" + text[-1500:]

    class Policy:
        """Refuses forbidden packages (a speed bump: where the sandbox is a file system view they
        are not there at all) and serves the submission's other files from memory."""

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in forbidden:
                raise ImportError(f"{name} is not available to submissions: write backpropagation by hand")
            file = name + ".py"
            if path is None and file in sources and file != main_name:
                import importlib.util

                return importlib.util.spec_from_loader(name, Loader(file), origin=file)
            return None

    class Loader:
        def __init__(self, file):
            self.file = file

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            module.__file__ = self.file
            module.__dict__["__builtins__"] = guarded_builtins
            exec(compile(sources[self.file], self.file, "exec"), module.__dict__)

    sys.meta_path.insert(0, Policy())

    # The meta-path hook is not asked about a module already loaded (numpy's own imports, what the
    # child preloads: math, json, collections, …): the student's modules get an __import__ that
    # refuses every forbidden name, loaded or not.
    import builtins

    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] in forbidden:
            raise ImportError(f"{name} is not available to submissions: write backpropagation by hand")
        return real_import(name, globals, locals, fromlist, level)

    guarded_builtins = dict(builtins.__dict__, __import__=guarded_import)
    module = types.ModuleType("submission")
    module.__file__ = main_name
    module.__dict__["__builtins__"] = guarded_builtins
    sys.modules["submission"] = module
    try:
        exec(compile(sources[main_name], main_name, "exec"), module.__dict__)
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: nothing ends us from here
        if isinstance(error, SystemExit):
            message = f"your file called sys.exit({error.code!r}) while it was being imported"
        else:
            message = trimmed(error)
        send(b"I", message.encode("utf-8", "backslashreplace"))
        return
    defined = [name for name in setup["functions"] if callable(module.__dict__.get(name))]
    send(b"R", json.dumps(defined).encode())

    def changed(before, after):
        if isinstance(before, np.ndarray):
            return not (isinstance(after, np.ndarray) and after.shape == before.shape and np.array_equal(after, before, equal_nan=True))
        if isinstance(before, list):
            return not (isinstance(after, list) and len(after) == len(before) and not any(changed(b, a) for b, a in zip(before, after)))
        return False

    while True:
        kind, payload = receive()
        task, arrays = unpack(np, json, payload)
        function = module.__dict__.get(task["function"])
        results, out = {}, []
        for case in task["cases"]:
            pristine = [decode(spec, arrays) for spec in case["args"]]
            args = [decode(spec, arrays) for spec in case["args"]]
            entry = {"status": "ok", "message": "", "value": None, "modified": []}
            try:
                value = function(*args)
                mark = len(out)
                try:
                    entry["value"] = encode(value, 0, out, mark + MAX_ARRAYS)
                except BadReturn as error:
                    del out[mark:]
                    entry["status"], entry["message"] = "badreturn", str(error)
            except BaseException as error:  # the student's exception, SystemExit included
                entry["status"], entry["message"] = "exception", trimmed(error)
            try:
                entry["modified"] = [i for i, (b, a) in enumerate(zip(pristine, args)) if changed(b, a)]
            except BaseException:
                entry["modified"] = list(range(len(args)))
            entry["message"] = entry["message"][:MAX_MESSAGE]
            results[str(case["number"])] = entry
        try:
            send(b"D", pack(np, json, {"function": task["function"], "cases": results}, out))
        except (OSError, MemoryError, ValueError):  # results too large for the file-size or memory limit
            for entry in results.values():
                if entry["value"] is not None:
                    entry.update(status="badreturn", value=None, message="the returned arrays were too large to hand back")
            send(b"D", pack(np, json, {"function": task["function"], "cases": results}, []))


# The array message of wire.py (the child imports nothing of handprop): the same codes, in order.
DTYPES = ("<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1")


def pack(np, json, meta, arrays):
    import struct

    text = json.dumps(meta).encode("utf-8", "surrogatepass")
    head, body = [b"HPW1" + struct.pack("<II", len(text), len(arrays))], []
    for array in arrays:
        array = np.asarray(array, order="C")
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder != "|" else array.dtype
        head.append(struct.pack(f"<BB{array.ndim}Q", DTYPES.index(dtype.str), array.ndim, *array.shape))
        body.append(array.astype(dtype, copy=False).tobytes())
    return b"".join(head) + text + b"".join(body)


def unpack(np, json, data):
    """What the grader sent (trusted: the grader built it with wire.dump)."""
    import struct

    meta_len, count = struct.unpack_from("<II", data, 4)
    at, shapes = 12, []
    for _ in range(count):
        code, ndim = data[at], data[at + 1]
        shapes.append((np.dtype(DTYPES[code]), struct.unpack_from(f"<{ndim}Q", data, at + 2)))
        at += 2 + 8 * ndim
    meta = json.loads(data[at : at + meta_len])
    at += meta_len
    arrays = []
    for dtype, shape in shapes:
        size = dtype.itemsize
        for d in shape:
            size *= d
        arrays.append(np.frombuffer(data, dtype=dtype, count=size // dtype.itemsize, offset=at).reshape(shape).astype(dtype.newbyteorder("="), copy=True))
        at += size
    return meta, arrays


if __name__ == "__main__":  # run by the grader as python -c; imported for encode() only
    main()

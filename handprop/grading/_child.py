"""The program that runs inside the sandbox process; the grader passes this file's text to
``python -I -c``, so the child never imports handprop (nor anything from the grader's folders).

Protocol, over two pipes that are not the student's stdout:
  child → grader  "started network=isolated|shared"   numpy imported, inputs read, user switched
                                   (before any student code runs)
  child → grader  "ready NAMES"    the submission was imported; NAMES lists the callables it defines
  child → grader  "import-error"   importing it failed; the trimmed traceback is in import.npz
  grader → child  "FUNCTION"       run every case of FUNCTION; results go to out_FUNCTION.npz
  child → grader  "done FUNCTION"
Arrays travel only as .npz files in the private working folder, written with allow_pickle=False.
Nothing the child writes is trusted: the grader re-validates every array it reads back.
"""

import os
import resource
import signal
import sys


ARGUMENTS = {  # the same table as handprop.grading.cases.ARGUMENTS (this file cannot import it)
    "sigmoid": ("z",),
    "sigmoid_prime": ("z",),
    "feedforward": ("weights", "biases", "x"),
    "backprop": ("weights", "biases", "x", "y"),
    "update_mini_batch": ("weights", "biases", "x", "y", "eta"),
}


PRELOAD = (
    "math", "random", "functools", "itertools", "collections", "copy", "dataclasses", "typing",
    "warnings", "time", "re", "operator", "numbers", "statistics", "numpy.linalg", "numpy.random",
)  # fmt: skip


BLOCKED = ("handprop", "verify", "torch", "jax", "tensorflow", "autograd")


def _limit(kind, value):
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))  # hard = soft: the student's code cannot raise it


def main():
    workdir, request_fd, reply_fd, cpu_s, memory_b, file_b, nproc, uid, gid = sys.argv[1:10]
    os.chdir(workdir)
    # Limits go on before numpy and long before the student's code; they cannot be raised again.
    _limit(resource.RLIMIT_CPU, int(cpu_s))
    _limit(resource.RLIMIT_AS, int(memory_b))
    _limit(resource.RLIMIT_FSIZE, int(file_b))
    _limit(resource.RLIMIT_NPROC, int(nproc))
    _limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write raises OSError instead of killing us
    reply = os.fdopen(int(reply_fd), "w", buffering=1)
    requests = os.fdopen(int(request_fd), "r")

    import ctypes
    import traceback
    import types

    import numpy as np

    # Modules a submission may reasonably import, loaded while the standard library is certainly
    # readable: after the switch to the sandbox user below it may not be (e.g. a Python under /root).
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass

    def save(name, arrays):
        tmp = name + ".part"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, name)

    def trimmed(error):
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "submission.py"]
        lines = traceback.format_list(frames[-6:]) + traceback.format_exception_only(type(error), error)
        text = "".join(lines)
        return text if len(text) <= 3000 else text[:1500] + "\n...\n" + text[-1500:]

    class BadReturn(Exception):
        pass

    def numeric(value, what):
        if not isinstance(value, (np.ndarray, np.number, int, float, list, tuple)) or isinstance(value, bool):
            raise BadReturn(f"{what} is a {type(value).__name__}, expected a NumPy array of numbers")
        try:
            array = np.array(value, copy=True)
        except Exception as error:
            raise BadReturn(f"{what} could not be turned into an array of numbers ({type(error).__name__})")
        if array.dtype.kind not in "iuf":
            raise BadReturn(f"{what} has dtype {array.dtype}, expected numbers (float64)")
        return np.ascontiguousarray(array).view(np.ndarray)

    def pack(function, result, prefix):
        if function in ("sigmoid", "sigmoid_prime", "feedforward"):
            return {prefix + "/out": numeric(result, "the returned value")}
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise BadReturn(f"{function} must return a pair (two lists), got {type(result).__name__}")
        out = {}
        for key, part in zip("wb", result):
            if not isinstance(part, (list, tuple)):
                raise BadReturn(f"{function} must return two lists of arrays; item {'0' if key == 'w' else '1'} is a {type(part).__name__}")
            out[prefix + f"/{key}n"] = np.array(len(part))
            for i, value in enumerate(part):
                out[prefix + f"/{key}/{i}"] = numeric(value, f"{'the weight' if key == 'w' else 'the bias'} gradient of layer {i}")
        return out

    with np.load("inputs.npz", allow_pickle=False) as stored:
        inputs = {key: stored[key] for key in stored.files}

    network = "shared"
    if uid != "-":
        # As root we may cut the child off the network: a new, empty network namespace (needs
        # CAP_SYS_ADMIN, which a container may lack; then the network stays reachable).
        if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0:  # CLONE_NEWNET
            network = "isolated"
        # Become the unprivileged sandbox user for good (as root, setuid sets real, effective and
        # saved ids), with no supplementary groups, before any of the student's code runs.
        os.setgroups([])
        os.setgid(int(gid))
        os.setuid(int(uid))
        if os.getuid() != int(uid) or os.geteuid() != int(uid) or os.getgid() != int(gid):
            raise SystemExit("could not switch to the sandbox user")
    try:  # no_new_privs: exec'ing a set-uid program cannot gain privileges back
        ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    os.umask(0o077)
    reply.write(f"started network={network}\n")

    class NoReference:
        """Refuses the reference implementation and autograd libraries: a speed bump, not a wall
        (the student's code runs in this process and could remove it; see docs/grading.md)."""

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not available to submissions: write backpropagation by hand")
            return None

    sys.meta_path.insert(0, NoReference())

    module = types.ModuleType("submission")
    module.__file__ = "submission.py"
    sys.modules["submission"] = module
    try:
        with open("submission.py", "rb") as f:
            source = f.read()
        exec(compile(source, "submission.py", "exec"), module.__dict__)
    except BaseException as error:  # SystemExit and KeyboardInterrupt too: nothing ends us from here
        if isinstance(error, SystemExit):
            message = f"your file called sys.exit({error.code!r}) while it was being imported"
        else:
            message = trimmed(error)
        save("import.npz", {"error": np.array(message)})
        reply.write("import-error\n")
        return
    defined = [name for name in ARGUMENTS if callable(module.__dict__.get(name))]
    reply.write("ready " + ",".join(defined) + "\n")

    for line in requests:
        function = line.strip()
        func = module.__dict__.get(function)
        numbers = sorted({int(key.split("/")[1]) for key in inputs if key.split("/")[0] == function})
        out = {}
        for number in numbers:
            prefix = f"{function}/{number}"
            args = []
            for arg in ARGUMENTS.get(function, ()):
                if arg in ("weights", "biases"):
                    args.append([inputs[f"{prefix}/{arg}/{i}"].copy() for i in range(int(inputs[prefix + "/layers"]))])
                elif arg == "eta":
                    args.append(float(inputs[prefix + "/eta"]))
                else:
                    args.append(inputs[f"{prefix}/{arg}"].copy())
            status, message = "ok", ""
            try:
                out.update(pack(function, func(*args), prefix))
            except BadReturn as error:
                status, message = "badreturn", str(error)
            except BaseException as error:  # the student's exception, SystemExit included
                status, message = "exception", trimmed(error)
            out[prefix + "/status"] = np.array(status)
            out[prefix + "/message"] = np.array(message)
        try:
            save(f"out_{function}.npz", out)
        except (OSError, MemoryError):  # results too large for the file-size or memory limit
            small = {k: v for k, v in out.items() if k.endswith("/status") or k.endswith("/message")}
            for key in small:
                if key.endswith("/status"):
                    small[key] = np.array("badreturn")
                else:
                    small[key] = np.array("the returned arrays were too large to hand back")
            save(f"out_{function}.npz", small)
        reply.write(f"done {function}\n")


main()

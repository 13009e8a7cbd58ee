"""The one system-call policy every sandbox mode installs: a seccomp filter built with libseccomp
(through ``pyseccomp``), compiled once per grader process to a classic BPF program.

The child installs it after ``no_new_privs`` and before the student's code: bwrap loads it from a
descriptor (``--seccomp FD``) right before it starts the interpreter; in the uid mode (with or
without namespaces, e.g. on Gradescope) ``_child.py`` loads the same bytes with
``prctl(PR_SET_SECCOMP)`` once its own set-up (mounts, user switch) is done. A denied call fails
with EPERM, so Python raises a clean ``PermissionError``; ``clone3`` fails with ENOSYS, so the C
library falls back to ``clone``, whose flags the filter can read.

What it refuses (Docker's default profile is the model; the interpreter and NumPy need none of it):
new namespaces (``unshare``, ``setns``, ``clone`` with a namespace flag, the mount API), kernel
keyrings, ``memfd_create`` (memory no rlimit counts), ``ptrace`` and cross-process memory access,
``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``, kernel modules and other
administration calls, ``kill(-1)``, ``TIOCSTI``, and every socket other than ``AF_UNIX`` (no
network even where there is no network namespace). Other architectures' system calls (the 32-bit
entry points, x32) kill the process.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import tempfile

logger = logging.getLogger(__name__)

DENIED = (
    # new namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr",
    # kernel keyrings: shared by every process of a user, across submissions
    "add_key", "keyctl", "request_key",
    # memory that no rlimit counts
    "memfd_create", "memfd_secret",
    # other processes' memory, the kernel's insides
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    # administration
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
    "acct", "quotactl", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "iopl", "ioperm", "syslog",
    "vhangup", "personality",
)  # fmt: skip
# clone(2)'s namespace flags: a clone with any of them is refused (threads and fork use none).
CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
AF_UNIX = 1
TIOCSTI = 0x5412


class SeccompUnavailable(RuntimeError):
    """The policy cannot be built here (no libseccomp, no pyseccomp, not Linux)."""


@functools.lru_cache(maxsize=None)
def program() -> bytes:
    """The compiled filter (an array of ``struct sock_filter``); raises SeccompUnavailable."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError) as error:  # RuntimeError: pyseccomp found no libseccomp
        raise SeccompUnavailable(f"the seccomp policy needs libseccomp and pyseccomp ({error})") from None
    eperm = sc.ERRNO(errno.EPERM)
    try:
        f = sc.SyscallFilter(sc.ALLOW)
        f.set_attr(sc.Attr.CTL_NNP, 0)  # the child sets no_new_privs itself (bwrap too)
        for name in DENIED:
            if sc.resolve_syscall(sc.Arch.NATIVE, name) >= 0:  # names this architecture lacks (iopl on arm64)
                f.add_rule(sc.ERRNO(errno.EPERM), name)
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags are behind a pointer: make libc use clone
        for flag in CLONE_NAMESPACES:
            f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for call in ("socket", "socketpair"):
            f.add_rule(eperm, call, sc.Arg(0, sc.NE, AF_UNIX))
        f.add_rule(eperm, "kill", sc.Arg(0, sc.MASKED_EQ, 0xFFFFFFFF, 0xFFFFFFFF))  # kill(-1): every process it may signal
        f.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))  # typing into a terminal
        with tempfile.TemporaryFile() as out:
            f.export_bpf(out)
            out.seek(0)
            data = out.read()
    except OSError as error:
        raise SeccompUnavailable(f"libseccomp could not build the policy ({error})") from None
    if not data or len(data) % 8:
        raise SeccompUnavailable("libseccomp produced an empty or malformed program")
    return data


def available() -> tuple[bool, str]:
    """Whether the policy can be built here, and why not."""
    try:
        program()
    except SeccompUnavailable as error:
        return False, str(error)
    return True, ""


def program_fd() -> int:
    """A readable descriptor holding the program, for ``bwrap --seccomp FD`` (the caller closes it)."""
    data = program()
    read, write = os.pipe()
    if len(data) > 65536:  # more than a pipe holds: a file instead
        os.close(read)
        os.close(write)
        handle = tempfile.TemporaryFile()
        handle.write(data)
        handle.flush()
        fd = os.dup(handle.fileno())
        handle.close()
        os.lseek(fd, 0, os.SEEK_SET)
        return fd
    os.write(write, data)
    os.close(write)
    return read

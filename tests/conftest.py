"""Shared fixtures: where the MNIST files are, and small networks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# pytest-xdist's workers (addopts: -n 2) must collect the same test ids; an id made with hash() of a
# str or bytes differs between interpreters unless their hash seed is the same. The controller loads
# this file before it starts the workers, which inherit its environment.
os.environ.setdefault("PYTHONHASHSEED", "0")

# Two workers share two cores: each computes on one thread (BLAS, OpenMP), so that a worker's idle
# BLAS threads do not spin against the other worker; a test that wants more threads asks for them.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


def mnist_root() -> Path:
    """HANDPROP_DATA if set, else the ``shared/data`` folder beside the checkout (developers and CI)."""
    env = os.environ.get("HANDPROP_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The MNIST root; skips with the reason when absent, but fails under CI, which must have it."""
    root = mnist_root()
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        message = f"MNIST files not found under {root}/MNIST/raw (set HANDPROP_DATA to their root)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have them")
        pytest.skip(message)
    return root


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels_ready():
    """The compiled training kernels loaded (or, on a fresh clone, compiled) once per test process first.

    On a cold cache ``handprop train`` prints a line while Numba compiles; tests that count the lines
    a command prints would otherwise see it in whichever test ran first. tests/test_compiled.py checks
    that line with a cache of its own.
    """
    try:
        from handprop import compiled
    except ImportError:  # no Numba: the NumPy steps train, and nothing compiles
        return
    for dtype in ("float32", "float64"):
        compiled.warm_up(784, dtype)



# The files that take longest start first, so that no long file begins while the other worker has
# nothing left to do (pyproject's addopts keep this order with --no-loadscope-reorder; xdist would
# otherwise start the files with the most tests first, and the course-server rerun, a few long
# tests, last). Measured with --durations=0; a file missing from here only starts later.
SLOW_FIRST = (
    "test_system_python.py",
    "test_readme.py",
    "test_grading_containment.py",
    "test_grading_hostile.py",
    "test_train_cli.py",
    "test_doc_examples.py",
    "test_api.py",
    "test_nothing_lost.py",
    "test_explain_cli.py",
)


# The course-server install (tests/test_system_python.py): Debian's world-readable Python with
# handprop installed from a wheel, root-only, as a course server or Gradescope's setup.sh has it.
SYSTEM_PYTHON = "/usr/bin/python3.11"
# Every file of attacks: the red-team rows, the containment classes (seccomp, cgroup, uid per slot,
# fail closed, and the hostile file again under Gradescope's capability drop), the untrusted output.
ATTACK_FILES = ("test_grading_hostile.py", "test_grading_containment.py", "test_grading_untrusted.py")
COURSE_SERVER_RERUN = "test_system_python.py::test_every_attack_is_contained_on_a_course_server_install"


def course_server_install_possible() -> bool:
    """Whether this machine can build and use the course-server install: the system Python is there,
    and we are root (a course server and Gradescope grade as root)."""
    return os.path.exists(SYSTEM_PYTHON) and os.geteuid() == 0


def _attacks_run_on_the_course_server(items) -> bool:
    return course_server_install_possible() and any(item.nodeid.endswith(COURSE_SERVER_RERUN) for item in items)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what they will
def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file stays together
    if _attacks_run_on_the_course_server(items):
        # Each attack runs once per deployment, on the install graders deploy, where none may skip
        # (against this checkout three would: this machine's Python is root-only); the course-server
        # test runs these files there, as root and under the capability drop. Asked for without that
        # test (pytest tests/test_grading_hostile.py, or no system Python), they run here.
        moved = [item for item in items if item.path.name in ATTACK_FILES]
        if moved:
            config.hook.pytest_deselected(items=moved)
            items[:] = [item for item in items if item.path.name not in ATTACK_FILES]


def pytest_terminal_summary(terminalreporter):
    """Say where the attack files ran: their tests are not counted in the line above when the
    course-server test ran them (one test there)."""
    for report in terminalreporter.stats.get("passed", []):
        for name, value in getattr(report, "user_properties", []):
            if name == "attack_tests_passed":
                terminalreporter.write_line(
                    f"the attack files' {value} tests passed on the course-server install, inside {COURSE_SERVER_RERUN}"
                )


def pytest_report_header(config):
    if course_server_install_possible():
        return (f"the attack files ({', '.join(ATTACK_FILES)}) run on the course-server install ({SYSTEM_PYTHON}), "
                f"inside {COURSE_SERVER_RERUN}, when that test is selected; otherwise against this checkout")
    return f"the attack files run against this checkout ({SYSTEM_PYTHON} or root is missing for the course-server install)"

"""Helpers for the sandbox tests: which modes this machine offers, leftover processes, hostile sources."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

from handprop.grading.sandbox import modes, process_table, remove_tree

from grading_helpers import REFERENCE, mutate

IS_ROOT = os.geteuid() == 0


def reference_exposed() -> bool:
    """Whether the uid sandbox's user can read the reference (handprop) or torch here: an editable
    checkout or a world-readable venv. The uid sandbox then refuses to run (fails closed) unless told
    ``--allow-weaker-sandbox``; the attacks below target other layers, so they say it
    (tests/test_grading_containment.py shows the refusal)."""
    from handprop.grading.sandbox.limits import FORBIDDEN_IMPORTS, NOBODY_UID

    return IS_ROOT and bool(modes.readable_packages(FORBIDDEN_IMPORTS, NOBODY_UID, NOBODY_UID))


def weaker(mode: str) -> list[str]:
    """The flag a uid-mode command line needs where the reference is readable here (see above)."""
    return ["--allow-weaker-sandbox"] if mode == "uid" and reference_exposed() else []


def available_modes() -> list[str]:
    """The isolating modes that work here (bwrap where namespaces are allowed, uid as root)."""
    found = ["bwrap"] if modes.bwrap_works(IS_ROOT)[0] else []
    return found + (["uid"] if IS_ROOT else [])


def leftovers(baseline: frozenset = frozenset()) -> list[int]:
    """Sandbox processes still alive: the grader's descendants outside its session. The grader is a
    child subreaper, so a process that escapes with setsid and a double fork stays its descendant
    (other users' sandboxes on the same machine are not counted)."""
    table = process_table()
    me, my_sid = os.getpid(), os.getsid(0)
    found = []
    for pid, (ppid, sid, state, _uid) in table.items():
        chain, p = set(), ppid
        while p in table and p not in chain and p != me:
            chain.add(p)
            p = table[p][0]
        if state != "Z" and pid not in baseline and (p == me or ppid == me) and sid != my_sid:
            found.append(pid)
    return found


@pytest.fixture(autouse=True)
def no_leftovers():
    """Asserts after the test that no process of any submission survived it."""
    baseline = frozenset(leftovers())  # e.g. pytest's own helpers
    yield baseline
    left = leftovers(baseline)
    assert left == [], f"sandbox processes survived the grading: {[(p, process_table().get(p)) for p in left]}"


@pytest.fixture
def course():
    """A world-readable course folder, as on a course server (outside the private tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="handprop-course-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    remove_tree(folder)


def with_hostile_prime(body: str, prelude: str = "") -> str:
    """The reference with ``sigmoid_prime`` replaced by ``body`` (backprop keeps a correct σ′ of its
    own), after ``prelude`` at import time: only sigmoid_prime's credit is at stake."""
    source = mutate(REFERENCE, ("def sigmoid_prime(z):\n    return", "def _prime(z):\n    return"), ("sigmoid_prime(zs", "_prime(zs"))
    return textwrap.dedent(prelude) + "\n" + source + "\n\ndef sigmoid_prime(z):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"

"""Everything a submission sends, and every name a student chose, is untrusted input; hidden cases
stay hidden. One regression test per row of issue 19 (rows 2, 3, 4, 5, 14, 15) and issue 21 (rows
2 and 5), each aimed at ``tmp_path``, and a property test feeding random file names to ``--batch``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import struct
import textwrap
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handprop.cli import main
from handprop.grading import GradingConfig, grade_source
from handprop.grading.sandbox import Call, run_submission

from grading_helpers import REFERENCE, fast_config, mutate
from sandbox_helpers import no_leftovers, with_hostile_prime  # noqa: F401

FAST = ["--timeout", "3", "--cases", "1", "--no-progress"]


def rows_of(csv_path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))


# -- issue 19 row 2: a forged result frame ---------------------------------------------------------

# Each variant writes a frame straight to the result pipe (its descriptor is in the child's argv),
# then ends the process: the grader must refuse it within the function's timeout, in bounded memory.
_SEND = """
import json, os, struct, sys, time
out = json.loads(sys.argv[1])["out"]
def send(payload, length=None):
    data = b"D" + (len(payload) if length is None else length).to_bytes(8, "big") + payload
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]
"""
FORGED = {
    # The old format's weak point: a 61 MB zip whose central directory lists 1.2M members.
    "zip-central-directory": """
        entry = struct.pack("<4s4B4HL2L5H2L", b"PK\\x01\\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0) + b"a.npy"
        directory = entry * 1_200_000
        send(directory + struct.pack("<4s4H2LH", b"PK\\x05\\x06", 0, 0, 0xFFFF, 0xFFFF, len(directory), 0, 0))
        os._exit(0)
        """,
    "absurd-shapes": """
        header = b"HPW1" + struct.pack("<II", 2, 1) + struct.pack("<BB2Q", 0, 2, 2**40, 2**40)
        send(header + b"{}" + b"\\0" * 4096)
        os._exit(0)
        """,
    "absurd-count": """
        send(b"HPW1" + struct.pack("<II", 2, 2**31) + b"\\0" * 4096)
        os._exit(0)
        """,
    "absurd-length": """
        send(b"x" * 64, length=2**62)
        os._exit(0)
        """,
    "never-ending": """
        send(b"HPW1" + b"\\0" * 1000, length=60 * 2**20)
        time.sleep(3600)
        """,
}


@pytest.mark.parametrize("variant", list(FORGED))
def test_row19_02_a_forged_result_frame_is_cut_off_within_the_timeout(variant):
    source = with_hostile_prime(_SEND + textwrap.dedent(FORGED[variant]))
    config = fast_config(timeout=1.0, cases=2)
    calls = [Call("sigmoid_prime", 1, [np.array([[0.5, -1.0]])]), Call("sigmoid_prime", 2, [np.array([[2.0]])])]
    tracemalloc.start()
    try:
        start = time.monotonic()
        run = run_submission(source.encode(), calls, config.sandbox, "auto")
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    prime = run.functions["sigmoid_prime"]
    assert prime.status in ("unreadable", "timeout"), prime
    # Starting the child and importing NumPy takes a second or two here; the old .npz parse took 20+ s.
    assert elapsed < config.sandbox.timeout + 6, f"the grader was held {elapsed:.1f} s by a forged frame"
    assert peak < 1.5 * config.sandbox.max_result_mb * 2**20, f"the grader peaked at {peak / 2**20:.0f} MiB"


def test_row19_02_a_correct_submission_still_scores_full_marks_over_the_new_framing():
    report = grade_source(REFERENCE.encode(), fast_config(cases=2))
    assert report.score == report.max_score, report.output


# -- issue 19 row 3: a zip whose directory lists a million members --------------------------------


def _million_member_zip(path: Path, lie: bool = False) -> Path:
    """A 48 MB zip whose central directory lists 1M empty members (no file data at all); with
    ``lie`` its end record claims 3 entries (zipfile reads by the directory's size, not its count)."""
    entry = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0) + b"ab"
    count = 1_000_000
    directory = entry * count
    if lie:
        end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 3, 3, len(directory), 0, 0)
    else:
        record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(directory), 0)
        locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(directory), 1)
        end = record + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(directory + end)
    assert path.stat().st_size < 50_000_000
    return path


@pytest.mark.parametrize("lie", [False, True], ids=["zip64-count", "lying-count"])
def test_row19_03_a_million_member_zip_is_refused_fast_and_cheaply(tmp_path, capsys, lie):
    bomb = _million_member_zip(tmp_path / "bomb.zip", lie)
    tracemalloc.start()
    try:
        start = time.monotonic()
        code = main(["grade", str(bomb), *FAST])
        elapsed = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert elapsed < 2.0, f"refusing the zip took {elapsed:.1f} s"
    assert peak < 8 * 2**20, f"refusing the zip took {peak / 2**20:.0f} MiB"  # the tail only, not the 48 MB
    assert code == 2 and "bomb.zip" in err and ("entries" in err or "not a readable zip" in err), err
    assert len(err.strip().splitlines()) == 1, err


def test_row19_03_the_same_zip_is_one_cheap_error_row_in_batch(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    _million_member_zip(folder / "mallory.zip")
    output = tmp_path / "grades.csv"
    start = time.monotonic()
    assert main(["grade", "--batch", str(folder), "--output", str(output), *FAST]) == 0
    assert time.monotonic() - start < 5.0
    (row,) = rows_of(output)
    assert row["student"] == "mallory" and "1000000 entries" in row["error"], row


def test_row19_03_an_ordinary_zip_still_grades(tmp_path, capsys):
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("folder/", "")
        z.writestr("folder/backprop_assignment.py", REFERENCE)
        z.writestr("__MACOSX/._backprop_assignment.py", "x")
    assert main(["grade", str(archive), "--format", "json", "--timeout", "3", "--cases", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["score"] == data["max_score"]


# -- issue 19 row 4: the caller's frame holds no hidden case ---------------------------------------

PEEK = """
import sys
frame = sys._getframe(1)
while frame is not None and "task" not in frame.f_locals:
    frame = frame.f_back
numbers = sorted(c["number"] for c in frame.f_locals["task"]["cases"])
raise ValueError(f"SEEN {numbers} ARRAYS {len(frame.f_locals['arrays'])}")
"""


def test_row19_04_a_visible_case_cannot_read_the_hidden_cases_from_its_caller(tmp_path):
    config = fast_config(cases=3, hidden=1)
    report = grade_source(with_hostile_prime(PEEK).encode(), config)
    prime = {t.number: t for t in report.tests if t.function == "sigmoid_prime"}
    assert [n for n, t in prime.items() if t.hidden] == [3]
    for n in (1, 2):
        assert "SEEN [1, 2] ARRAYS 2" in prime[n].output, prime[n].output  # only the visible cases' inputs
    # The hidden case ran in a child of its own (SEEN [3] there), whose words are never shown.
    assert "SEEN" not in prime[3].output and "hidden case is not shown" in prime[3].output, prime[3].output
    others = [t for t in report.tests if t.function != "sigmoid_prime"]
    assert all(t.passed for t in others), report.output


# -- issue 19 row 5: NAME.txt, ready to hand back, shows no hidden case ----------------------------


def test_row19_05_the_batch_feedback_leaves_hidden_cases_out(tmp_path):
    from handprop.grading.cases import build_cases

    folder = tmp_path / "subs"
    folder.mkdir()
    wrong = mutate(REFERENCE, ("def sigmoid_prime(z):\n    return", "def sigmoid_prime(z):\n    return 2 *"))
    (folder / "carol.py").write_text(wrong)
    output = tmp_path / "grades.csv"
    argv = ["grade", "--batch", str(folder), "--output", str(output), "--cases", "3", "--hidden", "2", "--timeout", "3", "--no-progress"]
    assert main(argv) == 0
    text = (tmp_path / "grades-feedback" / "carol.txt").read_text()
    suite = build_cases(GradingConfig(cases=3, hidden=2))
    hidden = [c for cases in suite.values() for c in cases if c.hidden]
    assert hidden and "[hidden]" not in text and "hidden case(s) are not shown" in text, text
    for case in hidden:
        assert f"{case.name}:" not in text and case.description not in text, (case.name, text)
    assert "sigmoid_prime: case 1" in text  # the visible failures are still explained
    assert "0/3 cases" not in text and "0/1 cases" in text  # counts of the visible cases only
    # The Gradescope results keep every test, each with its visibility; the instructor's CSV has the total.
    results = json.loads((tmp_path / "grades-feedback" / "carol.results.json").read_text())
    assert {t["visibility"] for t in results["tests"] if t["name"] in {c.name for c in hidden}} == {"after_published"}
    (row,) = rows_of(output)
    assert float(row["sigmoid_prime"]) == 0


# -- issue 19 row 14: ESC sequences in names never reach a terminal raw ----------------------------

ESCAPES = ("\x1b]52;c;aGFja2Vk\x07", "\x1b[2J", "\x1b]0;owned\x07")


def _zip_with_names(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for i, esc in enumerate(ESCAPES):
            z.writestr(f"part{i}{esc}.py", "x = 1\n")
    return path


def test_row19_14_escape_sequences_in_member_names_are_escaped_in_the_error_line(tmp_path, capsys):
    code = main(["grade", str(_zip_with_names(tmp_path / "evil.zip")), *FAST])
    out, err = capsys.readouterr()
    assert code == 2
    assert "\x1b" not in err + out and "\\x1b]52;c;aGFja2Vk\\x07" in err, err


@contextlib.contextmanager
def _records():
    """Every log record of handprop's grading while the block runs (whatever handlers the CLI set up)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("handprop")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_row19_14_escape_sequences_are_escaped_in_batch_logs_csv_and_feedback(tmp_path, capfd, jobs):
    folder = tmp_path / "subs"
    folder.mkdir()
    _zip_with_names(folder / "evil.zip")
    (folder / "eve\x1b[2J.py").write_text(with_hostile_prime("raise ValueError('\\x1b]52;c;aGk=\\x07 boom')"))
    output = tmp_path / "grades.csv"
    with _records() as records:
        assert main(["grade", "--batch", str(folder), "--output", str(output), "--jobs", jobs, *FAST]) == 0
    # The workers of --jobs 2 log to the stderr they inherited (pytest's, or this test's when the
    # forkserver starts here): whatever reaches this test's terminal is checked too.
    out, err = capfd.readouterr()
    logged = "\n".join(logging.Formatter().format(r) for r in records)
    written = [p.read_text() for p in (tmp_path / "grades-feedback").iterdir()]
    for text in (out, err, logged, output.read_text(), *written):
        assert "\x1b" not in text, text
    if jobs == "1":
        assert "\\x1b]52;c;aGFja2Vk\\x07" in logged
    assert "\\x1b]52;c;aGk=\\x07 boom" in "".join(written)  # the student's exception, escaped in the feedback
    assert {r["student"] for r in rows_of(output)} == {"evil", "eve\\x1b[2J"}
    assert sorted(p.name for p in (tmp_path / "grades-feedback").iterdir()) == ["eve\\x1b[2J.results.json", "eve\\x1b[2J.txt", "evil.txt"]


# -- issue 19 row 15, issue 21 row 5: one student name, several submissions ------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_row19_15_row21_05_clashing_student_names_each_keep_a_row_and_feedback(tmp_path, jobs):
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "alice.py").write_text(REFERENCE)
    (folder / "alice.zip").write_bytes(b"not a zip")
    (folder / "alice.ipynb").write_text("{not json")
    (folder / "alice").mkdir()
    (folder / "alice" / "notes.txt").write_text("no code")
    (folder / "bob.py").write_text(REFERENCE)
    output = tmp_path / "grades.csv"
    with _records() as records:
        # --timeout 10 (after FAST: the last wins): two correct submissions must score full marks even
        # while --jobs 2 and the suite's own workers share this machine's two cores
        assert main(["grade", "--batch", str(folder), "--output", str(output), "--jobs", jobs, *FAST, "--timeout", "10"]) == 0
    rows = {r["student"]: r for r in rows_of(output)}
    assert sorted(rows) == ["alice", "alice.ipynb", "alice.py", "alice.zip", "bob"]
    assert rows["alice.py"]["total"] == rows["alice.py"]["max_score"] == "10" and rows["bob"]["total"] == "10"
    assert "not a readable zip" in rows["alice.zip"]["error"] and "notebook" in rows["alice.ipynb"]["error"]
    feedback = tmp_path / "grades-feedback"
    texts = {name: (feedback / f"{name}.txt").read_text() for name in rows}
    assert len(set(texts.values())) == 5  # every feedback file survived, each its own
    assert "alice.zip" in texts["alice.zip"] and "alice/" not in texts["alice.py"]
    clash = [r.getMessage() for r in records if "share the student name" in r.getMessage()]
    assert len(clash) == 1 and "alice.py" in clash[0], clash


# -- issue 21 row 2: a file name that is not UTF-8 -------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_row21_02_a_latin1_file_name_is_one_escaped_row_and_the_csv_is_written(tmp_path, jobs, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"jos\xe9.py"), "w") as f:  # Latin-1 josé.py
        f.write(REFERENCE)
    (folder / "bob.py").write_text(REFERENCE)
    output = tmp_path / "grades.csv"
    assert main(["grade", "--batch", str(folder), "--output", str(output), "--jobs", jobs, *FAST]) == 0
    rows = {r["student"]: r for r in rows_of(output)}
    assert sorted(rows) == ["bob", "jos\\xe9"]
    assert rows["jos\\xe9"]["total"] == "10"
    assert "jos\\xe9" in (tmp_path / "grades-feedback" / "jos\\xe9.txt").read_text()
    assert "Traceback" not in capsys.readouterr().err


# -- the property: any file names, one CSV row per student, no traceback ---------------------------

NAME = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b"."))
SUFFIX = st.sampled_from([b".py", b".zip", b".ipynb", b".ZIP", b""])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(st.tuples(NAME, SUFFIX), min_size=1, max_size=6))
def test_random_file_names_give_one_csv_row_per_student_and_no_traceback(tmp_path_factory, entries, capsys):
    root = tmp_path_factory.mktemp("batch")
    folder = os.path.join(os.fsencode(root), b"subs")
    os.mkdir(folder)
    made = set()
    for name, suffix in entries:
        full = name + suffix
        if full in made or len(full) > 255:
            continue
        made.add(full)
        path = os.path.join(folder, full)
        if suffix == b"":
            os.mkdir(path)  # a folder whose one Python file, of the same name, is too large
            with open(os.path.join(path, name + b".py"), "wb") as f:
                f.truncate(2_000_001)
        else:
            with open(path, "wb") as f:
                if suffix == b".py":
                    f.truncate(2_000_001)  # over the size limit: refused before any sandbox starts
                else:
                    f.write(b"\xff\xfe not a zip nor a notebook")
    output = root / "grades.csv"
    code = main(["grade", "--batch", os.fsdecode(folder), "--output", str(output), "--jobs", "1", *FAST])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err, err
    rows = rows_of(output)
    assert len(rows) == len(made), (rows, made)
    assert len({r["student"] for r in rows}) == len(rows)
    assert all(r["student"].isprintable() and r["error"] for r in rows), rows
    feedback = sorted((root / "grades-feedback").iterdir())
    assert len([p for p in feedback if p.name.endswith(".txt")]) == len(made)

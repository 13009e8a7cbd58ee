"""What a course meets: the course file (TOML), notebook/folder/zip submissions, batch grading in
parallel with per-student feedback, scores rounded for people."""

from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest

from handprop.cli import main
from handprop.grading import GradingConfig, get_assignment, grade_file
from handprop.grading.batch import grade_folder_to_csv
from handprop.grading.config import config_from_settings, read_config_file
from handprop.grading.grader import points_text
from handprop.grading.submission import SubmissionError, load_submission, notebook_source

from grading_helpers import REFERENCE, fast_config, mutate

FAST = ["--timeout", "3"]

COURSE = """
assignment = "network"
seed = 7
cases = 3
hidden = 1
hidden_visibility = "hidden"
rtol = 1e-6
file = "hw3.py"

[options]
hidden = "sigmoid"

[points]
backprop = 6

[limits]
timeout = 3
memory_mb = 1024
"""


def test_a_course_file_sets_everything_and_flags_override_it(tmp_path, capsys):
    course = tmp_path / "course.toml"
    course.write_text(COURSE)
    config = config_from_settings(read_config_file(course))
    assert (config.seed, config.cases, config.hidden, config.hidden_visibility, config.rtol, config.file) == (7, 3, 1, "hidden", 1e-6, "hw3.py")
    assert config.points["backprop"] == 6 and config.max_score == 12 and config.sandbox.timeout == 3
    student = tmp_path / "student.py"
    student.write_text(REFERENCE)
    assert main(["grade", str(student), "--config", str(course), "--seed", "8", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 8 and data["max_score"] == 12 and data["score"] == 12


@pytest.mark.parametrize(
    "text, key",
    [
        ("cases = 3\nseeds = 2\n", "'seeds'"),
        ("cases = 0\n", "cases"),
        ("hidden = 9\n", "hidden"),
        ("rtol = 'small'\n", "rtol"),
        ("assignment = 'networks'\n", "assignment"),
        ("[options]\nhidden = 'swish'\n", "options"),
        ("[points]\nbackward = 2\n", "points"),
        ("[points]\nbackprop = -1\n", "points"),
        ("[limits]\ntimeout = -1\n", "limits.timeout"),
        ("[limits]\nmemory = 5\n", "limits.memory"),
        ("options = 3\n", "options"),
        ("cases = [\n", "not valid TOML"),
    ],
)
def test_a_bad_course_file_is_one_clear_error_naming_the_key(tmp_path, capsys, text, key):
    course = tmp_path / "course.toml"
    course.write_text(text)
    assert main(["grade", "x.py", "--config", str(course)]) == 2
    err = capsys.readouterr().err
    assert key in err and "course.toml" in err and len(err.strip().splitlines()) == 1, err


def test_the_template_follows_the_assignment_and_its_options(tmp_path, capsys):
    assert main(["grade", "--template", "-", "--option", "hidden=relu", "--option", "cost=cross_entropy"]) == 0
    text = capsys.readouterr().out
    assert "def relu(z):" in text and "def relu_prime(z):" in text and "cross-entropy" in text
    for name in ("chain-rule", "layers"):
        target = tmp_path / f"{name}.py"
        assert main(["grade", "--template", str(target), "--assignment", name]) == 0
        text = target.read_text()
        compile(text, str(target), "exec")
        assert all(f"def {f}(" in text for f in get_assignment(name).functions) and "np.exp" not in text


NOTEBOOK_CELLS = [
    ("markdown", "# Homework 3"),
    ("code", "%matplotlib inline\nimport numpy as np"),
    ("code", "!pip install nothing"),
    ("code", "%%timeit\nx = 1"),
]


def _notebook(source: str):
    nb = nbformat.v4.new_notebook()
    for kind, text in NOTEBOOK_CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "markdown" else nbformat.v4.new_code_cell(text))
    nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


def test_a_notebook_scores_the_same_as_the_same_code_in_a_py_file(tmp_path):
    source = mutate(REFERENCE, ("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])"))
    (tmp_path / "hw.py").write_text(source)
    nbformat.write(_notebook(source), str(tmp_path / "hw.ipynb"))
    config = fast_config()
    py, nb = grade_file(tmp_path / "hw.py", config), grade_file(tmp_path / "hw.ipynb", config)
    assert 0 < py.score < py.max_score and nb.score == py.score
    assert [t.tags for t in nb.tests] == [t.tags for t in py.tests]
    assert "%matplotlib inline" in nb.output and "!pip install nothing" in nb.output and "%%timeit" in nb.output


def test_notebook_lines_left_out_keep_the_line_numbers():
    text, notes = notebook_source(nbformat.writes(_notebook("def f():\n    return 1")).encode())
    compile(text, "nb.py", "exec")
    assert "%" not in text and "!" not in text and len(notes) == 1


def test_a_folder_or_zip_grades_the_configured_file_or_says_what_it_found(tmp_path):
    folder = tmp_path / "alice"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "backprop_assignment.py").write_text(REFERENCE)
    (folder / "scratch.py").write_text("x = 1\n")
    chosen = load_submission(folder, None, "backprop_assignment.py")
    assert chosen.name.endswith("backprop_assignment.py") and "scratch.py" in chosen.notes[0]
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bob/hw3.py", REFERENCE)
        zf.writestr("bob/notes.txt", "hi")
        zf.writestr("__MACOSX/bob/._hw3.py", "junk")
    assert load_submission(archive, "hw3.py").source == REFERENCE.encode()
    assert load_submission(archive, None, "backprop_assignment.py").source == REFERENCE.encode()  # the only .py
    with pytest.raises(SubmissionError, match="no file named hw9.py; it holds scratch.py, src/backprop_assignment.py"):
        load_submission(folder, "hw9.py")
    (folder / "src" / "backprop_assignment.py").unlink()
    (folder / "other.py").write_text("y = 2\n")
    with pytest.raises(SubmissionError, match="other.py, scratch.py"):
        load_submission(folder, None, "backprop_assignment.py")
    report = grade_file(archive, fast_config(file="hw3.py"))
    assert report.score == report.max_score


@pytest.mark.parametrize("value, text", [(10 / 3, "3.33"), (2.5, "2.5"), (10.0, "10"), (0.0, "0"), (6.666666, "6.67"), (-0.0, "0")])
def test_points_print_rounded(value, text):
    assert points_text(value) == text


def test_a_third_of_the_points_prints_as_3_33(tmp_path, capsys):
    student = tmp_path / "s.py"
    student.write_text(mutate(REFERENCE, ("    return nabla_w, nabla_b\n", "    return nabla_w, (nabla_b if x.shape[0] != 5 else None)\n")))
    assert main(["grade", str(student), "--cases", "3", "--points", "backprop=5", *FAST]) == 0
    out = capsys.readouterr().out
    assert "backprop" in out and "3.33 / 5" in out and "3.333" not in out


def _class(folder, count: int) -> None:
    folder.mkdir()
    variants = [
        REFERENCE,
        mutate(REFERENCE, ("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])")),
        mutate(REFERENCE, ("(activations[-1] - y)", "(y - activations[-1])")),
        "this is not python\n",
    ]
    for i in range(count):
        (folder / f"student{i:02d}.py").write_text(variants[i % len(variants)])


def test_batch_with_two_jobs_writes_the_same_csv_as_one_job_and_feedback_per_student(tmp_path):
    folder = tmp_path / "class"
    _class(folder, 8)  # each of the 4 kinds of submission twice, more than the 2 jobs
    config = fast_config(cases=1)
    one, two = tmp_path / "one" / "grades.csv", tmp_path / "two" / "grades.csv"
    one.parent.mkdir()
    two.parent.mkdir()
    grade_folder_to_csv(folder, one, config, progress=False, jobs=1)
    grade_folder_to_csv(folder, two, config, progress=False, jobs=2)
    assert one.read_text() == two.read_text()
    rows = list(csv.DictReader(one.read_text().splitlines()))
    assert [r["student"] for r in rows] == [f"student{i:02d}" for i in range(8)]
    assert rows[0]["total"] == "10" and "missing-batch-mean" in rows[1]["tags"] and rows[3]["total"] == "0"
    feedback = tmp_path / "two" / "grades-feedback"
    assert sorted(p.name for p in feedback.glob("*.txt")) == [f"student{i:02d}.txt" for i in range(8)]
    results = json.loads((feedback / "student02.results.json").read_text())
    assert results["score"] < 10 and "sign-flipped" in (feedback / "student02.txt").read_text()


def test_one_broken_submission_is_one_error_row(tmp_path):
    folder = tmp_path / "class"
    _class(folder, 2)
    (folder / "zed.zip").write_bytes(b"not a zip")
    grade_folder_to_csv(folder, tmp_path / "g.csv", fast_config(cases=1), progress=False, jobs=2)
    rows = list(csv.DictReader((tmp_path / "g.csv").read_text().splitlines()))
    assert [r["student"] for r in rows] == ["student00", "student01", "zed"]
    assert rows[2]["error"] and "zip" in rows[2]["error"] and rows[0]["total"] == "10"


def test_config_needs_a_known_assignment():
    with pytest.raises(ValueError, match="unknown assignment"):
        GradingConfig(assignment="nope")


def test_every_example_course_file_in_the_docs_is_valid_and_names_its_assignment():
    """docs/grading/*.toml: the course files of docs/grading.md's graded examples (their outputs are
    checked by tests/test_doc_examples.py)."""
    paths = sorted((Path(__file__).resolve().parents[1] / "docs" / "grading").glob("*.toml"))
    assert paths
    for path in paths:
        config = config_from_settings(read_config_file(path), where=str(path))
        assert config.assignment == path.stem


def test_the_graded_file_may_import_its_helper_module(tmp_path):
    folder = tmp_path / "carol"
    folder.mkdir()
    helper, rest = REFERENCE.split("def feedforward(")
    (folder / "mathutils.py").write_text(helper)
    (folder / "backprop_assignment.py").write_text("import numpy as np\nfrom mathutils import sigmoid, sigmoid_prime\n\n\ndef feedforward(" + rest)
    report = grade_file(folder, fast_config())
    assert report.score == report.max_score


def test_the_gradescope_bundle_grades_any_assignment(tmp_path):
    from assign_helpers import CHAIN_SOURCE
    from grading_helpers import run_autograder

    bundle = tmp_path / "bundle"
    assert main(["grade", "--bundle", str(bundle), "--config", str(Path(__file__).resolve().parents[1] / "docs" / "grading" / "chain-rule.toml"), "--timeout", "3"]) == 0
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "chain_rule_assignment.py").write_text(CHAIN_SOURCE)
    (submission / "README.md").write_text("my work")
    data = run_autograder(bundle, submission, tmp_path / "results.json")
    assert data["score"] == 4 and [t["name"] for t in data["tests"]][0] == "chain_forward: case 1"


def test_a_folder_submission_is_listed_within_bounds_without_recursion(tmp_path, monkeypatch):
    """A student's folder is walked like a zip: deep trees are not followed past the bound, too many
    files are one clear error, and neither can crash or stall the grader."""
    from handprop.grading.submission import MAX_FOLDER_DEPTH, MAX_ZIP_MEMBERS

    deep = tmp_path / "deep"
    (deep / "hw").mkdir(parents=True)
    (deep / "hw" / "backprop_assignment.py").write_text(REFERENCE)
    os.makedirs(deep.joinpath(*["d"] * 400))  # far below the depth that is looked into
    import handprop.grading.submission as submission

    listed = []
    scandir = os.scandir
    monkeypatch.setattr(submission.os, "scandir", lambda path: listed.append(path) or scandir(path))
    chosen = load_submission(deep, None, "backprop_assignment.py")
    assert chosen.source == REFERENCE.encode()
    assert len(listed) <= MAX_FOLDER_DEPTH + 2  # the top, hw/, and d/ down to the bound: not 400 folders
    monkeypatch.setattr(submission.os, "scandir", scandir)

    nested = tmp_path / "nested"
    folder = nested.joinpath(*["d"] * (MAX_FOLDER_DEPTH + 1))
    folder.mkdir(parents=True)
    (folder / "backprop_assignment.py").write_text(REFERENCE)
    with pytest.raises(SubmissionError, match=f"has no file named backprop_assignment.py.*more than {MAX_FOLDER_DEPTH} deep are not looked into: move the graded file up"):
        load_submission(nested, None, "backprop_assignment.py")

    many = tmp_path / "many"
    many.mkdir()
    for i in range(MAX_ZIP_MEMBERS + 1):
        (many / f"f{i}.txt").write_text("")
    with pytest.raises(SubmissionError, match=f"holds more than {MAX_ZIP_MEMBERS} files"):
        load_submission(many, None, "backprop_assignment.py")

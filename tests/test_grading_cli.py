"""``handprop grade``: the template, the report formats, Gradescope's schema, the bundle, batch CSV, exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import pytest

from handprop.cli import main
from handprop.grading import TEMPLATE, grade_source
from handprop.grading.bundle import config_from_dict, gradescope_main

from grading_helpers import REFERENCE, fast_config, mutate, run_autograder

FAST = ["--timeout", "3"]
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def check_gradescope_schema(results: dict) -> None:
    """The keys and types of Gradescope's results.json (gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    assert isinstance(results["score"], (int, float)) and not isinstance(results["score"], bool)
    assert isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str)
    assert isinstance(results["tests"], list)
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])
        assert test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


@pytest.fixture
def reference_file(tmp_path):
    path = tmp_path / "student.py"
    path.write_text(REFERENCE)
    return path


def test_template_is_written_and_has_no_solutions(tmp_path, capsys):
    target = tmp_path / "assignment.py"
    assert main(["grade", "--template", str(target)]) == 0
    text = target.read_text()
    compile(text, str(target), "exec")
    for name in ("sigmoid", "sigmoid_prime", "feedforward", "backprop", "update_mini_batch"):
        assert f"def {name}(" in text and f'raise NotImplementedError("{name}")' in text
    assert "np.exp" not in text and "(n, in)" in text and "mean over the batch".lower() in text.lower()
    assert main(["grade", "--template", str(target)]) == 2  # no silent overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["grade", "--template", str(target), "--force"]) == 0


def test_template_scores_zero_with_exception_tags():
    report = grade_source(TEMPLATE.encode(), fast_config())
    assert report.score == 0 and {t for test in report.tests for t in test.tags} == {"exception"}
    assert "NotImplementedError" in report.tests[0].output


def test_text_report_by_default(reference_file, capsys):
    assert main(["grade", str(reference_file), *FAST]) == 0
    out = capsys.readouterr().out
    assert "10 / 10 points" in out and "backprop" in out


def test_gradescope_output_file_matches_the_schema(tmp_path):
    path = tmp_path / "student.py"
    path.write_text(mutate(REFERENCE, ("(activations[-1] - y)", "(y - activations[-1])")))
    results_path = tmp_path / "results.json"
    args = ["grade", str(path), "--format", "gradescope", "--output", str(results_path), "--hidden", "1", *FAST]
    assert main(args) == 0
    results = json.loads(results_path.read_text())
    check_gradescope_schema(results)
    assert 0 < results["score"] < 10
    names = [t["name"] for t in results["tests"]]
    assert names[0] == "sigmoid: case 1" and "backprop: case 3" in names
    assert all(t["name"].split(":")[0] in ("sigmoid", "sigmoid_prime", "feedforward", "backprop", "update_mini_batch") for t in results["tests"])
    backprop = [t for t in results["tests"] if t["name"].startswith("backprop:")]
    assert all(t["tags"] == ["sign-flipped"] and t["status"] == "failed" for t in backprop)
    assert [t["visibility"] for t in backprop] == ["visible"] * 4 + ["after_published"]


def test_json_format_and_options(reference_file, capsys):
    args = ["grade", str(reference_file), "--format", "json", "--seed", "7", "--cases", "3", "--points", "backprop=6", "--rtol", "1e-8", *FAST]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 7 and data["max_score"] == 12 and data["score"] == 12
    assert data["functions"]["backprop"]["max_score"] == 6 and data["functions"]["backprop"]["cases"] == 3
    assert [t["name"] for t in data["tests"] if t["function"] == "backprop"] == [f"backprop: case {k}" for k in (1, 2, 3)]
    # --rtol reaches the judging: backprop off by 1e-6 of itself passes the default 1e-5 but not 1e-8
    off = reference_file.with_name("off.py")
    off.write_text(mutate(REFERENCE, ("    return nabla_w, nabla_b", "    return nabla_w, [b * (1 + 1e-6) for b in nabla_b]")))
    for rtol, backprop_score in (("1e-5", 6), ("1e-8", 0)):
        assert main(["grade", str(off), "--format", "json", "--points", "backprop=6", "--rtol", rtol, *FAST]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["functions"]["backprop"]["score"] == backprop_score, (rtol, data["functions"]["backprop"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["grade"], "nothing to grade"),
        (["grade", "missing.py"], "does not exist"),
        (["grade", "x.py", "--template"], "not both"),
        (["grade", "--batch", "nowhere"], "does not exist"),
        (["grade", "x.py", "--points", "backprop"], "FUNCTION=P"),
        (["grade", "x.py", "--points", "backward=3"], "FUNCTION=P"),
        (["grade", "x.py", "--cases", "0"], "cases"),
        (["grade", "x.py", "--timeout", "-1"], "timeout"),
        (["grade", "x.py", "--timeout", "inf"], "timeout"),
        (["grade", "x.py", "--points", "sigmoid=nan"], "finite"),
        (["grade", "x.py", "--points", "sigmoid=inf"], "finite"),
        (["grade", "x.py", "--rtol", "nan"], "rtol"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_broken_sandbox_is_a_grader_failure(reference_file, capsys):
    assert main(["grade", str(reference_file), "--memory-mb", "16", *FAST]) == 2
    err = capsys.readouterr().err
    assert "the grader could not run" in err and len(err.strip().splitlines()) == 1


def test_bad_submissions_still_exit_0(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("def sigmoid(:\n")
    assert main(["grade", str(path), *FAST]) == 0
    assert "0 / 10" in capsys.readouterr().out


def test_bundle_files_and_run_autograder(tmp_path, capsys):
    bundle = tmp_path / "bundle"
    assert main(["grade", "--bundle", str(bundle), "--seed", "3", "--hidden", "2", "--timeout", "3"]) == 0
    for name in ("setup.sh", "run_autograder"):
        assert os.access(bundle / name, os.X_OK)
    assert "/autograder/results/results.json" in (bundle / "run_autograder").read_text()
    with zipfile.ZipFile(bundle / "autograder.zip") as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "grading.json", "handprop/grading/sandbox/__init__.py", "handprop/grading/sandbox/_child.py", "handprop/network.py"} <= names
        assert (zf.getinfo("run_autograder").external_attr >> 16) & 0o111
    config = config_from_dict(json.loads((bundle / "grading.json").read_text()))
    assert config.seed == 3 and config.hidden == 2 and config.sandbox.timeout == 3

    compile((bundle / "run_autograder").read_text(), "run_autograder", "exec")
    assert subprocess.run(["bash", "-n", str(bundle / "setup.sh")]).returncode == 0

    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "hw.py").write_text(REFERENCE)
    results = tmp_path / "results" / "results.json"
    results.parent.mkdir()
    data = run_autograder(bundle, submission, results)
    check_gradescope_schema(data)
    assert data["score"] == 10
    assert sum(t["visibility"] == "after_published" for t in data["tests"]) == 10


def test_run_autograder_without_a_python_file_still_writes_results(tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "notes.txt").write_text("oops")
    results = tmp_path / "results.json"
    assert gradescope_main(str(tmp_path / "nosource"), str(tmp_path / "submission"), str(results)) == 0
    data = json.loads(results.read_text())
    check_gradescope_schema(data)
    assert data["score"] == 0 and "no file named backprop_assignment.py; it holds notes.txt" in data["output"]


def test_batch_grades_a_folder_into_one_csv(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(REFERENCE)
    (folder / "bob.py").write_text(mutate(REFERENCE, ("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])")))
    (folder / "carol.py").write_text("this is not python\n")
    output = tmp_path / "grades.csv"
    assert main(["grade", "--batch", str(folder), "--output", str(output), "--no-progress", *FAST]) == 0
    with output.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol"]
    assert list(rows[0])[:6] == ["student", "sigmoid", "sigmoid_prime", "feedforward", "backprop", "update_mini_batch"]
    assert rows[0]["total"] == "10" and rows[2]["total"] == "0"
    assert float(rows[1]["backprop"]) < 4 and "missing-batch-mean" in rows[1]["tags"]
    assert "graded 3 of 3" in capsys.readouterr().err


def test_the_instructor_guide_documents_every_tag():
    from pathlib import Path

    from handprop.grading import TAGS

    guide = (Path(__file__).resolve().parents[1] / "docs" / "grading.md").read_text(encoding="utf-8")
    assert all(f"`{tag}`" in guide for tag in TAGS)

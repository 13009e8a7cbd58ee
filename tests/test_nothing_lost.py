"""Nothing a user owns is ever lost (issue 21): the one rule for every file handprop writes
(``handprop.outputs``), tested once for every command that writes, then the rows one by one.

The rule: a file or folder the command did not create is never replaced without --force; an input
is never written over, --force or not; the check comes before any work; a run folder is locked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import handprop
from handprop.cli import main
from handprop.outputs import OutputError, locked_folder

from grading_helpers import REFERENCE, mutate
from train_helpers import synthetic_mnist  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--arch", "784-16-10", "--init", "xavier", "--no-progress", "--epochs", "1"]
WRONG = mutate(REFERENCE, ("* sigmoid_prime(zs[-1]) / n", "* sigmoid_prime(zs[-1])"))


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (folders as None): what a refused command must leave."""
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return out


def _user_run(folder: Path) -> None:
    """A folder holding what looks like someone's run (the bytes must survive)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "checkpoint.npz").write_bytes(b"thirty epochs of someone's work")
    (folder / "metrics.json").write_text("{}\n")


# Each case: set-up in tmp_path returning the argv that must be refused, and words the error must hold.
def _train_new_run(tmp: Path):
    _user_run(tmp / "run")
    return [*TRAIN, "--out", str(tmp / "run")], f"--resume {tmp / 'run'}"


def _resume_into_another_run(tmp: Path):
    runA = tmp / "runA"
    assert main([*TRAIN, "--out", str(runA)]) == 0
    _user_run(tmp / "runB")
    return [*TRAIN[:-1], "2", "--resume", str(runA / "checkpoint.npz"), "--out", str(tmp / "runB")], "holds another run"


def _explain_over_a_figure(tmp: Path):
    (tmp / "slide.png").write_bytes(b"my slide")
    return ["explain", "--no-study", "--out", str(tmp / "slide.png")], "already exists"


def _explain_over_its_checkpoint(tmp: Path):
    net = handprop.Network([784, 16, 10], seed=0)
    from handprop.checkpoint import save_checkpoint

    save_checkpoint(tmp / "net.png", net)  # a checkpoint whatever its name: never the figure's target
    return ["explain", "--checkpoint", str(tmp / "net.png"), "--out", str(tmp / "net.png"), "--force"], "would write over the input"


def _save_failing_into_a_used_folder(tmp: Path):
    (tmp / "hw.py").write_text(WRONG)
    (tmp / "cases").mkdir()
    (tmp / "cases" / "notes.txt").write_text("mine")
    return ["check", str(tmp / "hw.py"), "--save-failing", str(tmp / "cases")], "is not empty"


def _save_failing_empty_name(tmp: Path):
    (tmp / "hw.py").write_text(WRONG)
    return ["check", str(tmp / "hw.py"), "--save-failing", ""], "got an empty one"


def _grade_over_the_submission(tmp: Path):
    (tmp / "student.py").write_text(REFERENCE)
    return ["grade", str(tmp / "student.py"), "-o", str(tmp / "student.py"), "--force"], "would write over the input"


def _grade_over_a_report(tmp: Path):
    (tmp / "student.py").write_text(REFERENCE)
    (tmp / "report.txt").write_text("last week's report")
    return ["grade", str(tmp / "student.py"), "-o", str(tmp / "report.txt")], "already exists"


def _grade_over_the_course_file(tmp: Path):
    (tmp / "student.py").write_text(REFERENCE)
    (tmp / "course.toml").write_text("cases = 2\n")
    return ["grade", str(tmp / "student.py"), "--config", str(tmp / "course.toml"), "-o", str(tmp / "course.toml"), "--force"], "input"


def _batch(tmp: Path) -> Path:
    subs = tmp / "subs"
    subs.mkdir(mode=0o700)
    (subs / "alice.py").write_text(REFERENCE)
    (subs / "bob.py").write_text(WRONG)
    return subs


def _batch_csv_inside_the_batch(tmp: Path):
    subs = _batch(tmp)
    return ["grade", "--batch", str(subs), "-o", str(subs / "grades.csv"), "--no-progress"], "lies inside"


def _batch_csv_over_a_submission(tmp: Path):
    subs = _batch(tmp)
    return ["grade", "--batch", str(subs), "-o", str(subs / "bob.py"), "--no-progress", "--force"], "lies inside the input folder"


def _batch_csv_is_the_batch_folder(tmp: Path):
    subs = _batch(tmp)
    return ["grade", "--batch", str(subs), "-o", str(subs), "--no-progress", "--force"], "would write over the input"


def _batch_over_last_weeks_grades(tmp: Path):
    _batch(tmp)
    (tmp / "grades.csv").write_text("student,total\nalice,10\n")
    return ["grade", "--batch", str(tmp / "subs"), "-o", str(tmp / "grades.csv"), "--no-progress"], "already exists"


def _bundle_into_a_course_folder(tmp: Path):
    (tmp / "course" / "handprop").mkdir(parents=True)
    (tmp / "course" / "handprop" / "notes.md").write_text("the instructor's notes")
    (tmp / "course" / "setup.sh").write_text("# the instructor's own set-up\n")
    return ["grade", "--bundle", str(tmp / "course")], "is not empty"


def _template_over_a_file(tmp: Path):
    (tmp / "hw.py").write_text("a student's answer")
    return ["grade", "--template", str(tmp / "hw.py")], "already exists"


def _template_over_the_course_file(tmp: Path):
    (tmp / "course.toml").write_text("cases = 2\n")
    return ["grade", "--template", str(tmp / "course.toml"), "--config", str(tmp / "course.toml"), "--force"], "input"


CASES = {
    "train-new-run-into-a-run-folder": _train_new_run,
    "train-resume-into-another-run": _resume_into_another_run,
    "explain-over-a-figure": _explain_over_a_figure,
    "explain-over-its-checkpoint": _explain_over_its_checkpoint,
    "check-save-failing-into-a-used-folder": _save_failing_into_a_used_folder,
    "check-save-failing-empty-name": _save_failing_empty_name,
    "grade-o-over-the-submission": _grade_over_the_submission,
    "grade-o-over-a-report": _grade_over_a_report,
    "grade-o-over-the-course-file": _grade_over_the_course_file,
    "batch-csv-inside-the-batch-folder": _batch_csv_inside_the_batch,
    "batch-csv-over-a-submission": _batch_csv_over_a_submission,
    "batch-csv-is-the-batch-folder": _batch_csv_is_the_batch_folder,
    "batch-over-last-weeks-grades": _batch_over_last_weeks_grades,
    "bundle-into-a-course-folder": _bundle_into_a_course_folder,
    "template-over-a-file": _template_over_a_file,
    "template-over-the-course-file": _template_over_the_course_file,
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_every_command_that_writes_refuses_to_lose_a_file_before_any_work(case, tmp_path, synthetic_mnist, capsys):
    argv, words = CASES[case](tmp_path)
    capsys.readouterr()
    before = tree(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert tree(tmp_path) == before  # nothing replaced, nothing deleted, nothing half-written, no feedback folder


# -- with --force the command goes ahead, and replaces only its own names ------------------------


def test_row4_a_new_run_replaces_the_old_one_only_with_force(synthetic_mnist, tmp_path, capsys):
    _user_run(tmp_path / "run")
    assert main([*TRAIN, "--out", str(tmp_path / "run"), "--force"]) == 0
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() != b"thirty epochs of someone's work"
    handprop.load_run(tmp_path / "run")  # a real run now


def test_row4_resume_into_another_run_with_force_and_into_its_own_folder_without(synthetic_mnist, tmp_path):
    runA = tmp_path / "runA"
    assert main([*TRAIN, "--out", str(runA)]) == 0
    assert main([*TRAIN[:-1], "2", "--resume", str(runA)]) == 0  # continuing a run in its own folder needs no --force
    assert handprop.load_run(runA).epoch == 2
    _user_run(tmp_path / "runB")
    assert main([*TRAIN[:-1], "3", "--resume", str(runA), "--out", str(tmp_path / "runB"), "--force"]) == 0
    assert handprop.load_run(tmp_path / "runB").epoch == 3


def test_row6_a_second_run_into_a_locked_folder_is_refused(synthetic_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    with locked_folder(run):  # another `handprop train --out run` is writing it
        assert main([*TRAIN, "--out", str(run)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "is being written by another handprop run" in err
        assert list(run.iterdir()) == []
        with pytest.raises(OutputError, match="another handprop run"):
            handprop.train(epochs=1, out=run, arch="784-16-10", progress=False)
    assert main([*TRAIN, "--out", str(run)]) == 0  # the lock ends with its holder


def test_row6_the_lock_is_held_by_a_running_train(synthetic_mnist, tmp_path):
    """While train writes the folder (here: at the end of an epoch) the folder is locked."""
    seen = []

    def during(run):
        try:
            with locked_folder(run.out):
                seen.append("free")
        except OutputError:
            seen.append("locked")

    handprop.train(epochs=1, out=tmp_path / "run", arch="784-16-10", progress=False, on_epoch=during)
    assert seen == ["locked"]


def test_row1_a_bundle_never_replaces_the_checkout_it_comes_from(tmp_path, capsys):
    """--force lets a bundle replace its own names in a folder, never the handprop package it copies."""
    before = (REPO / "handprop" / "outputs.py").read_bytes()
    assert main(["grade", "--bundle", str(REPO), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the handprop package being bundled" in err
    assert (REPO / "handprop" / "outputs.py").read_bytes() == before and not (REPO / "autograder.zip").exists()


def test_row1_bundle_force_replaces_a_bundle_and_leaves_other_files(tmp_path, capsys):
    out = tmp_path / "bundle"
    assert main(["grade", "--bundle", str(out)]) == 0
    (out / "README.txt").write_text("the instructor's")
    assert main(["grade", "--bundle", str(out)]) == 2  # not empty
    assert main(["grade", "--bundle", str(out), "--force", "--seed", "4"]) == 0
    assert (out / "README.txt").read_text() == "the instructor's" and '"seed": 4' in (out / "grading.json").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["README.txt", "autograder.zip", "grading.json", "handprop", "run_autograder", "setup.sh"]


def test_row14_batch_force_replaces_the_feedback_whole(tmp_path, capsys):
    subs = _batch(tmp_path)
    grades = tmp_path / "grades.csv"
    args = ["grade", "--batch", str(subs), "-o", str(grades), "--no-progress", "--timeout", "3", "--cases", "1", "--jobs", "1"]
    assert main(args) == 0
    feedback = tmp_path / "grades-feedback"
    assert sorted(p.name for p in feedback.iterdir()) == ["alice.results.json", "alice.txt", "bob.results.json", "bob.txt"]
    (subs / "bob.py").unlink()
    assert main(args) == 2 and "already exists" in capsys.readouterr().err  # run twice: refused, not overwritten
    assert main([*args, "--force"]) == 0
    assert sorted(p.name for p in feedback.iterdir()) == ["alice.results.json", "alice.txt"]  # no stale student
    assert "bob" not in grades.read_text()


def test_row3_grade_force_replaces_a_report_but_never_the_submission(tmp_path, capsys):
    (tmp_path / "student.py").write_text(REFERENCE)
    (tmp_path / "report.json").write_text("old")
    assert main(["grade", str(tmp_path / "student.py"), "--format", "json", "-o", str(tmp_path / "report.json"), "--force", "--timeout", "3", "--cases", "1"]) == 0
    assert (tmp_path / "report.json").read_text().startswith("{")
    assert (tmp_path / "student.py").read_text() == REFERENCE


def test_row16_save_failing_is_a_fresh_folder_and_force_replaces_only_saved_cases(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(WRONG)
    report = handprop.check_backprop(__import__("runpy").run_path(str(path))["backprop"], cases=3)
    saved = tmp_path / "cases"
    assert len(report.save_failing(saved)) == 3
    with pytest.raises(ValueError, match="is not empty"):
        report.save_failing(saved)  # earlier cases are never mixed with new ones silently
    fewer = handprop.check_backprop(__import__("runpy").run_path(str(path))["backprop"], cases=1)
    assert len(fewer.save_failing(saved, overwrite=True)) == 1
    assert sorted(p.name for p in saved.iterdir()) == ["backprop_case1.npz", "backprop_case1.py"]  # no stale case 2, 3
    (saved / "mine.txt").write_text("the learner's")
    with pytest.raises(FileExistsError, match="not saved cases"):
        fewer.save_failing(saved, overwrite=True)
    assert (saved / "mine.txt").read_text() == "the learner's"


def test_row16_check_save_failing_with_force(tmp_path, capsys):
    path = tmp_path / "hw.py"
    path.write_text(WRONG)
    saved = tmp_path / "cases"
    argv = ["check", str(path), "--function", "backprop", "--save-failing", str(saved), "--cases"]
    assert main([*argv, "2"]) == 1
    assert main([*argv, "1"]) == 2 and "is not empty" in capsys.readouterr().err
    assert main([*argv, "1", "--force"]) == 1
    assert sorted(p.name for p in saved.iterdir()) == ["backprop_case1.npz", "backprop_case1.py"]


def test_row9_the_saved_snippet_reruns_the_checked_function_not_the_script(tmp_path):
    """The README pattern in a learner's script without a main guard, with its own function name."""
    script = tmp_path / "learner.py"
    saved = tmp_path / "failing"
    body = WRONG.replace("def backprop(", "def my_backprop(").replace("= backprop(", "= my_backprop(")
    script.write_text(
        body + "\nimport handprop\nprint('THE SCRIPT RAN')\n"
        f"handprop.check_backprop(my_backprop, cases=1).save_failing({str(saved)!r})\n"
    )
    first = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    rerun = subprocess.run([sys.executable, str(saved / "backprop_case1.py")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "MISMATCH" in rerun.stdout and "THE SCRIPT RAN" not in rerun.stdout


def test_evaluate_writes_nothing(synthetic_mnist, tmp_path, capsys):
    assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 0
    before = tree(tmp_path)
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert tree(tmp_path) == before


def test_files_are_written_atomically_and_readable(tmp_path):
    """Every writer goes through handprop.atomic: a failure mid-write leaves the old file."""
    from handprop.outputs import write_text

    target = tmp_path / "report.txt"
    write_text(target, "old")

    class Boom(Exception):
        pass

    from handprop.atomic import atomic_open

    with pytest.raises(Boom):
        with atomic_open(target, "w", encoding="utf-8") as f:
            f.write("half of a new")
            raise Boom
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["report.txt"]

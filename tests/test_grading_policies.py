"""Policies from Gradescope's submission_metadata.json (issue 20): a late multiplier and an
anti-oracle limit, tested with metadata files shaped like Gradescope's, and per-student cases
in a Gradescope bundle (the student id from the metadata, the secret root-only in the bundle)."""

from __future__ import annotations

import json
import stat
import zipfile

import pytest

from handprop.grading import grade_source, to_gradescope
from handprop.grading.bundle import SECRET_FILE, write_bundle
from handprop.grading.features import CourseFeatures, LatePolicy, OraclePolicy
from handprop.grading.policies import apply_policies, late, read_metadata, submissions_in_window
from handprop.grading.student_cases import SECRET_ENV

from grading_helpers import REFERENCE, fast_config, mutate, run_autograder

SENTENCES = {"missing-batch-mean": "n times too large."}


def metadata(created_at="2026-12-07T10:30:00.000000-08:00", due="2026-12-07T08:00:00.000000-08:00", previous=(), extension=None, user_id=1234):
    """A submission_metadata.json as Gradescope writes it (https://gradescope-autograders.readthedocs.io/en/latest/submission_metadata/)."""
    user = {"email": "student@example.edu", "id": user_id, "name": "Student User"}
    if extension:
        user["assignment"] = {"due_date": extension, "late_due_date": None}
    return {
        "id": 123456,
        "created_at": created_at,
        "assignment": {"due_date": due, "group_size": None, "group_submission": False, "id": 25828, "course_id": 1234,
                       "late_due_date": None, "release_date": "2026-11-30T00:00:00.000000-08:00", "title": "Backprop", "total_points": "10.0"},
        "submission_method": "upload",
        "users": [user],
        "previous_submissions": [{"submission_time": t, "score": 0.0, "results": {}} for t in previous],
    }  # fmt: skip


@pytest.mark.parametrize(
    "created_at, extension, hours, multiplier",
    [
        ("2026-12-07T07:59:00-08:00", None, 0.0, 1.0),
        ("2026-12-07T10:30:00-08:00", None, 2.5, 0.98),  # 1.5 hours past the grace hour: 2 charged
        ("2026-12-07T18:30:00Z", None, 2.5, 0.98),  # the same moment in UTC
        ("2026-12-07T08:30:00-08:00", None, 0.5, 1.0),  # within the grace hour
        ("2026-12-20T08:00:00-08:00", None, 312.0, 0.5),  # never below the minimum
        ("2026-12-07T10:30:00-08:00", "2026-12-08T08:00:00-08:00", 0.0, 1.0),  # an extension
    ],
)
def test_late_multiplier_by_hours_past_the_due_date(created_at, extension, hours, multiplier):
    policy = LatePolicy(penalty_per_hour=0.01, grace_hours=1.0, minimum=0.5)
    result = late(metadata(created_at, extension=extension), policy)
    assert result.hours == pytest.approx(hours) and result.multiplier == pytest.approx(multiplier)


def test_late_score_in_results(tmp_path):
    results = to_gradescope(grade_source(REFERENCE.encode(), fast_config()))
    features = CourseFeatures(late=LatePolicy(penalty_per_hour=0.1))
    late_results = apply_policies(results, metadata(), features, SENTENCES)
    assert late_results["score"] == pytest.approx(7.0) and "2.5 hours after the due date: score 10 × 0.7 = 7" in late_results["output"]
    assert apply_policies(results, metadata(created_at="2026-12-07T07:00:00-08:00"), features, SENTENCES)["score"] == 10
    assert apply_policies(results, None, features, SENTENCES) == results
    with pytest.raises(ValueError, match="created_at"):
        apply_policies(results, {**metadata(), "created_at": "yesterday"}, features, SENTENCES)


def test_anti_oracle_hides_case_numbers_after_n_submissions_in_the_window():
    wrong = mutate(REFERENCE, ("/ n\n", "\n"))
    results = to_gradescope(grade_source(wrong.encode(), fast_config()))
    features = CourseFeatures(oracle=OraclePolicy(max_submissions=3, window_hours=24))
    in_window = ["2026-12-07T01:00:00-08:00", "2026-12-07T09:00:00-08:00"]
    old = ["2026-12-01T09:00:00-08:00"] * 5
    assert submissions_in_window(metadata(previous=in_window + old), features.oracle) == 3
    assert apply_policies(results, metadata(previous=in_window + old), features, SENTENCES) == results  # the third: details shown
    limited = apply_policies(results, metadata(previous=in_window + ["2026-12-07T10:00:00-08:00"]), features, SENTENCES)
    text = json.dumps(limited)
    assert "case 1" not in text and "case_id" not in text and "batch of" not in text and "number" not in text
    assert "submission 4 within 24 hours" in limited["output"]
    assert limited["score"] == results["score"] == 4.0
    backprop = [t for t in limited["tests"] if t["name"] == "backprop"]
    assert len(backprop) == 5 and all(t["tags"] == ["missing-batch-mean"] and t["output"] == "Failed. n times too large." for t in backprop)
    assert sum(t["score"] for t in limited["tests"]) == pytest.approx(4.0)


def test_read_metadata(tmp_path):
    path = tmp_path / "submission_metadata.json"
    assert read_metadata(path) is None
    path.write_text(json.dumps(metadata()))
    assert read_metadata(path)["users"][0]["id"] == 1234
    path.write_text("[1, 2]")
    assert read_metadata(path) is None


def _autograde(tmp_path, bundle, name, meta):
    root = tmp_path / name
    submission = root / "submission"
    submission.mkdir(parents=True)
    (submission / "backprop_assignment.py").write_text(REFERENCE)
    (root / "submission_metadata.json").write_text(json.dumps(meta))
    (root / "results").mkdir()
    return run_autograder(bundle, submission, root / "results" / "results.json")


def test_a_bundle_with_per_student_cases_and_policies(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    secret = tmp_path / "course-secret.txt"
    secret.write_text("bundle-secret-0123456789abcdef\n")
    features = CourseFeatures(per_student_cases=True, secret_file=str(secret), late=LatePolicy(penalty_per_hour=0.1))
    bundle = tmp_path / "bundle"
    archive = write_bundle(bundle, fast_config(features=features, hidden=1))
    assert stat.S_IMODE((bundle / SECRET_FILE).stat().st_mode) == 0o600
    with zipfile.ZipFile(archive) as zf:
        assert (zf.getinfo(SECRET_FILE).external_attr >> 16) & 0o077 == 0
    settings = json.loads((bundle / "grading.json").read_text())
    assert settings["features"]["secret_file"] == SECRET_FILE and "bundle-secret" not in json.dumps(settings)

    alice = _autograde(tmp_path, bundle, "alice", metadata(user_id=1111))
    again = _autograde(tmp_path, bundle, "alice-again", metadata(user_id=1111))
    bob = _autograde(tmp_path, bundle, "bob", metadata(user_id=2222, created_at="2026-12-07T07:00:00-08:00"))
    ids = [t["extra_data"]["case_id"] for t in alice["tests"]]
    assert ids == [t["extra_data"]["case_id"] for t in again["tests"]]
    assert not set(ids) & {t["extra_data"]["case_id"] for t in bob["tests"]}
    assert alice["score"] == pytest.approx(7.0) and bob["score"] == pytest.approx(10.0)  # 2.5 hours late at 10% an hour
    assert "bundle-secret" not in json.dumps(alice)

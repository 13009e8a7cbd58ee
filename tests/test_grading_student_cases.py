"""Per-student cases (issue 20): drawn from HMAC(course secret, student, function, case number);
stable on regrade, different between students, and still separating every catalogued mistake; and
every test's case id and tags in results.json's extra_data."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handprop.grading import grade_source, to_gradescope
from handprop.grading.assignments import get_assignment
from handprop.grading.config import config_from_settings
from handprop.grading.features import CourseFeatures
from handprop.grading.student_cases import SECRET_ENV, build_student_cases, case_id, course_secret, student_from_metadata

from assign_helpers import LAYERS_MISTAKES, LAYERS_SOURCE, judge_source, mutate, network_mistake, network_source
from grading_helpers import REFERENCE, fast_config

SECRET = b"a-course-secret-of-32-characters"
STUDENTS = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=12)


def ids(suite):
    return {f: [case_id(c.args) for c in cases] for f, cases in suite.items()}


def per_student(tmp_path, **kwargs):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET + b"\n")
    return fast_config(features=CourseFeatures(per_student_cases=True, secret_file=str(secret)), **kwargs)


def test_same_student_same_cases_two_students_different_cases():
    assignment = get_assignment("network")
    alice = build_student_cases(assignment, SECRET, "alice", 5, 2)
    assert ids(alice) == ids(build_student_cases(assignment, SECRET, "alice", 5, 2))
    bob = build_student_cases(assignment, SECRET, "bob", 5, 2)
    for f in assignment.functions:
        assert not set(ids(alice)[f]) & set(ids(bob)[f])
    other = build_student_cases(assignment, b"another-course-secret-32-chars!!", "alice", 5, 2)
    assert not set(ids(alice)["backprop"]) & set(ids(other)["backprop"])
    assert [c.hidden for c in alice["backprop"]] == [False, False, False, True, True]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(student=STUDENTS)
def test_every_catalogued_network_mistake_fails_every_case_of_every_student(student):
    assignment = get_assignment("network")
    suite = build_student_cases(assignment, SECRET, student, 3, 1)
    for case in suite["backprop"] + suite["update_mini_batch"]:
        weights, x = case.args[0], case.args[2]
        assert len(weights) >= 2 and x.shape[0] >= 3
        assert not assignment.hides_a_mistake(case)  # the redraw holds per student
    assert all(v.passed for vs in judge_source(assignment, network_source(), suite).values() for v in vs)
    for tag in assignment.mistakes("backprop"):
        verdicts = judge_source(assignment, mutate(network_source(), *network_mistake(tag)), suite, ["backprop"])["backprop"]
        assert [v.tags for v in verdicts] == [[tag]] * 3, (student, tag)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(student=STUDENTS)
@example(student='<©Ý%"')  # found by hypothesis: a tanh_backward case with every z large, tanh(z) ≈ 1 = the missing derivative
def test_every_catalogued_layers_mistake_fails_every_case_of_every_student(student):
    assignment = get_assignment("layers")
    suite = build_student_cases(assignment, SECRET, student, 3, 0)
    for function, tag, changes in [(f, t, c) for f, mistakes in LAYERS_MISTAKES.items() for t, c in mistakes.items()]:
        verdicts = judge_source(assignment, mutate(LAYERS_SOURCE, *changes), suite, [function])[function]
        assert all(not v.passed and tag in v.tags for v in verdicts), (student, function, tag, [v.tags for v in verdicts])


def test_the_secret_comes_from_the_environment_or_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ValueError, match="needs a course secret"):
        course_secret(None)
    short = tmp_path / "short"
    short.write_text("abc")
    with pytest.raises(ValueError, match="too short"):
        course_secret(short)
    good = tmp_path / "good"
    good.write_bytes(SECRET + b"\n")
    assert course_secret(good) == SECRET
    monkeypatch.setenv(SECRET_ENV, "environment-secret-0123456789")
    assert course_secret(good) == b"environment-secret-0123456789"


def test_course_file_settings_are_checked_one_key_at_a_time():
    config = config_from_settings({"per_student_cases": True, "consistency_credit": 0.5, "late": {"penalty_per_hour": 0.01}})
    assert config.features.per_student_cases and config.features.consistency_credit == 0.5
    assert config.features.late.penalty_per_hour == 0.01
    for settings, message in [
        ({"per_student_cases": "yes"}, "per_student_cases"),
        ({"consistency_credit": 2}, "consistency_credit"),
        ({"late": {"penalty": 1}}, "late.penalty"),
        ({"oracle": {"max_submissions": 0}}, "oracle.max_submissions"),
        ({"late": 3}, "late must be a table"),
    ]:
        with pytest.raises(ValueError, match=message):
            config_from_settings(settings, where="course.toml")


def test_graded_per_student_case_ids_are_stable_and_differ_and_the_secret_stays_out(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = per_student(tmp_path)
    first = to_gradescope(grade_source(REFERENCE.encode(), config, student="1234"))
    again = to_gradescope(grade_source(REFERENCE.encode(), config, student="1234"))
    other = to_gradescope(grade_source(REFERENCE.encode(), config, student="5678"))
    assert first["score"] == other["score"] == 10.0
    case_ids = [t["extra_data"]["case_id"] for t in first["tests"]]
    assert case_ids == [t["extra_data"]["case_id"] for t in again["tests"]]
    assert not set(case_ids) & {t["extra_data"]["case_id"] for t in other["tests"]}
    assert SECRET.decode() not in json.dumps(first)
    with pytest.raises(ValueError, match="no student id"):
        grade_source(REFERENCE.encode(), config)


def test_every_test_carries_its_case_id_and_tags():
    wrong = mutate(REFERENCE, ("/ n\n", "\n"))
    results = to_gradescope(grade_source(wrong.encode(), fast_config()))
    for test in results["tests"]:
        assert set(test["extra_data"]) == {"case_id", "tags"} and len(test["extra_data"]["case_id"]) == 12
        assert test["extra_data"]["tags"] == test["tags"]
    backprop = [t for t in results["tests"] if t["name"].startswith("backprop")]
    assert all(t["extra_data"]["tags"] == ["missing-batch-mean"] for t in backprop)
    assert len({t["extra_data"]["case_id"] for t in results["tests"]}) == len(results["tests"])


def test_the_student_id_from_gradescope_metadata(tmp_path):
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text(json.dumps({"id": 1, "users": [{"email": "b@x.edu", "id": 222, "name": "B"}, {"email": "a@x.edu", "id": 111, "name": "A"}]}))
    assert student_from_metadata(metadata) == "111+222"
    metadata.write_text("not json")
    assert student_from_metadata(metadata) is None
    assert student_from_metadata(tmp_path / "absent.json") is None


def test_a_relative_secret_file_is_read_beside_the_course_file(tmp_path, monkeypatch):
    from handprop.grading.config import read_config_file

    monkeypatch.delenv(SECRET_ENV, raising=False)
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "course" / "course.toml").write_text('per_student_cases = true\nsecret_file = "secret.txt"\n')
    monkeypatch.chdir(tmp_path)
    config = config_from_settings(read_config_file(tmp_path / "course" / "course.toml"))
    assert course_secret(config.features.secret_file) == SECRET

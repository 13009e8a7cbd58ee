"""The fitting that names a mistake (handprop/grading/diagnose.py), function by function.

The mistake-table and diagnosis tests check the tags a whole submission earns; these pin the
pieces those tags are built from, at their edges: an exact fit at tolerance 0, a scale just inside
and just outside the tolerance at large and small scales, empty and non-finite input, an ambiguous
scale (n = 2 is also a factor of 2), and the wording and fields of a verdict.
"""

from __future__ import annotations

import numpy as np
import pytest

from handprop.grading.diagnose import (
    TAGS, explain_scale, fail, fitted_scale, from_candidates, max_error, ordered, parts_candidates, relative_error,
    scaled_candidates,
)

R = [np.array([[1.0, -2.0], [3.0, 0.5]]), np.array([4.0, -1.0])]


def scaled(arrays, s):
    return [s * a for a in arrays]


def test_relative_error_is_on_the_expected_scale_and_zero_for_empty_arrays():
    assert relative_error(np.array([1.0, 2.5]), np.array([1.0, 2.0])) == pytest.approx(0.25)
    assert relative_error(np.zeros(0), np.zeros(0)) == 0.0
    assert max_error(R, scaled(R, 1.5)) == pytest.approx(1 / 3)
    assert max_error([R[0], R[1] + 0.5], R) == pytest.approx(0.125)  # the worst of the arrays
    assert max_error([], []) == 0.0


def test_an_exact_scale_fits_even_at_tolerance_zero():
    assert fitted_scale(scaled(R, 2.0), R, tol=0.0) == 2.0
    assert explain_scale(2.0, None, tol=0.0) == [("factor-2",)]


@pytest.mark.parametrize("s", [2.0, 100.0, 0.01])
def test_a_fit_is_judged_relative_to_the_scale_and_the_values(s):
    """At values of 1000 and a scale s, a misfit of 0.5·tol·s·max|r| fits and 2·tol·s·max|r| does not."""
    tol = 1e-3
    r = [1000 * a for a in R]
    bump = np.zeros_like(r[0])
    bump[0, 0] = 1.0
    for factor, fits in ((0.5, True), (2.0, False)):
        g = [s * r[0] + factor * tol * s * 4000 * bump, s * r[1]]  # max|r| = 4000
        found = fitted_scale(g, r, tol)
        assert (found is not None) is fits, (s, factor, found)
        if fits:
            assert found == pytest.approx(s, rel=tol)


@pytest.mark.parametrize(
    "got, ref",
    [([], []), ([], R), (R, []), ([np.ones(3)], [np.ones(4)]), ([np.array([np.nan, 1.0])], [np.ones(2)]),
     ([np.ones(2)], [np.array([np.inf, 1.0])]), ([np.ones(2)], [np.zeros(2)]), ([np.zeros(2)], [np.ones(2)])],
    ids=["both-empty", "got-empty", "ref-empty", "shapes-differ", "nan-got", "inf-ref", "ref-zero", "got-zero"],
)
def test_no_scale_fits_what_cannot_be_compared(got, ref):
    assert fitted_scale(got, ref) is None


def test_explain_scale_finds_the_smallest_combinations():
    n = 5
    assert explain_scale(1.0, n) == [()]
    assert explain_scale(-1.0, n) == [("sign-flipped",)]
    assert explain_scale(float(n), n) == [("missing-batch-mean",)]
    assert explain_scale(-2.0 / n, n) == [("double-batch-mean", "sign-flipped", "factor-2")]  # three at once
    assert explain_scale(-0.5 / n, n) == [("double-batch-mean", "sign-flipped", "factor-2")]
    assert explain_scale(2.0, n, factor_2=False) == []
    assert explain_scale(float(n), None) == []  # no batch: no batch mean to miss
    assert explain_scale(3.0, n) == []
    assert explain_scale(2.0, 2) == [("missing-batch-mean",), ("factor-2",)]  # n = 2: ambiguous


def test_explain_scale_tolerance_is_relative_to_the_scale():
    n = 100
    assert explain_scale(n * (1 + 5e-7), n, tol=1e-6) == [("missing-batch-mean",)]
    assert explain_scale(n * (1 + 2e-6), n, tol=1e-6) == []


def test_scaled_candidates_pass_on_the_tolerance_and_the_factor_2_choice():
    g = [R[0] * 2 * (1 + 1e-4), R[1] * 2]  # a factor 2, fitted to 1e-4
    assert scaled_candidates(g, R, None, 1e-3) == [("factor-2",)]
    assert scaled_candidates(g, R, None, 1e-6) == []
    assert scaled_candidates(scaled(R, 2.0), R, None, 1e-6, base=("transposed",)) == [("transposed", "factor-2")]
    assert scaled_candidates(scaled(R, 2.0), R, None, 1e-6, factor_2=False) == []


def test_parts_candidates_one_scale_first_then_part_by_part():
    w, b = [R[0]], [R[1]]
    # n = 2: a scale of 2 is a missing mean or a factor 2; one explanation for both parts, not a mix
    assert parts_candidates([scaled(w, 2.0), scaled(b, 2.0)], [w, b], 2, 1e-6) == [("missing-batch-mean",), ("factor-2",)]
    # weights right, biases twice too large: explained part by part
    assert parts_candidates([w, scaled(b, 2.0)], [w, b], 5, 1e-6) == [("factor-2",)]
    assert parts_candidates([w, scaled(b, 2.0)], [w, b], 5, 1e-6, factor_2=False) == []
    assert parts_candidates([scaled(w, 2.0), scaled(b, 2.0)], [w, b], 5, 1e-6, factor_2=False) == []
    assert parts_candidates([scaled(w, 5.0), scaled(b, -1.0)], [w, b], 5, 1e-6) == [("missing-batch-mean", "sign-flipped")]


def test_ordered_puts_fewer_tags_first_then_the_catalogue_order():
    found = ordered([("sign-flipped", "factor-2"), ("factor-2",), ("transposed",), ("factor-2",), ()])
    assert found == [("transposed",), ("factor-2",), ("sign-flipped", "factor-2")]


def test_fail_words_every_tag_then_the_detail():
    v = fail(["sign-flipped", "factor-2"], TAGS, "Largest error 0.5.", error=0.5)
    assert v.message == TAGS["sign-flipped"] + " " + TAGS["factor-2"] + " Largest error 0.5."
    assert (v.passed, v.tags, v.error, v.candidates) == (False, ["sign-flipped", "factor-2"], 0.5, [("sign-flipped", "factor-2")])
    assert fail(["wrong-shape"], TAGS, "W1: a\nb1: b").message == TAGS["wrong-shape"] + "\nW1: a\nb1: b"  # a list goes below
    assert fail(["wrong-shape"], TAGS).message == TAGS["wrong-shape"]
    assert fail([], TAGS, "only detail").candidates == []
    assert fail(["factor-2"], TAGS, candidates=[("factor-2",), ("missing-batch-mean",)]).candidates == [("factor-2",), ("missing-batch-mean",)]


def test_from_candidates_shows_the_best_fit_and_keeps_the_others():
    v = from_candidates([("sign-flipped", "factor-2"), ("factor-2",), ("missing-batch-mean",)], 0.5, 1e-5, TAGS)
    assert v.tags == ["missing-batch-mean"] and v.error == 0.5
    assert v.candidates == [("missing-batch-mean",), ("factor-2",), ("sign-flipped", "factor-2")]
    assert v.message == TAGS["missing-batch-mean"] + " Largest error relative to the scale of the expected values: 0.5 (tolerance 1e-05)."
    none = from_candidates([], 0.25, 1e-5, TAGS)
    assert (none.tags, none.error, none.candidates) == ([], 0.25, [])
    assert none.message == "The values are wrong. Largest error relative to the scale of the expected values: 0.25 (tolerance 1e-05)."

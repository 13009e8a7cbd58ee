"""``checks.is_finite_array``: one sum instead of an element-wise look, the same answer as
``np.isfinite(x).all()`` for every dtype, including sums that overflow while every value is finite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from handprop.backend import all_finite
from handprop.checks import is_finite_array

FLOATS = st.sampled_from([np.float16, np.float32, np.float64, np.complex128])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=FLOATS)
def test_the_same_answer_as_the_element_wise_look(data, dtype):
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6)))
    assert is_finite_array(x) == bool(np.isfinite(x).all())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_values_whose_sum_overflows_are_still_finite(dtype):
    largest = np.finfo(dtype).max
    assert is_finite_array(np.full(4, largest, dtype))
    assert is_finite_array(np.array([largest, -largest, largest, largest], dtype))
    assert not is_finite_array(np.array([largest, largest, np.nan], dtype))
    assert not is_finite_array(np.array([np.inf, -np.inf], dtype))  # a sum of NaN, from two infinities


@pytest.mark.parametrize("x", [np.arange(6), np.zeros((2, 3), np.uint8), np.array([True, False]), np.array([], float), np.array(2.0)])
def test_integers_booleans_empty_and_scalar_arrays_are_finite(x):
    assert is_finite_array(x)


def test_the_backends_check_every_array():
    assert all_finite([np.ones(3), np.ones((2, 2))])
    assert not all_finite([np.ones(3), np.array([[1.0, np.nan]])])
    assert not all_finite([np.array([np.inf]), np.ones(2)])
    assert all_finite([np.full(3, np.finfo(np.float64).max)])  # finite parameters, however large


def test_an_array_that_is_not_numbers_is_not_called_finite():
    with pytest.raises(TypeError):
        is_finite_array(np.array(["a", "b"], dtype=object))

"""Sizes and values (issue 11, cases 12–18): refused with a message naming the value and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import handprop.checks
from handprop import Network
from handprop.cli import main
from handprop.training import TrainConfig


def test_12_an_architecture_too_large_for_memory_is_refused_before_loading_data(capsys, tmp_path):
    # no --data-root: were the data loaded first, the error would be about missing files
    assert main(["train", "--arch", "10-100000000000-10", "--data-root", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "a 10-100000000000-10 network has 2,100,000,000,010 parameters, 15.6 TiB in float32: more than the" in err
    assert "of memory available" in err and not (tmp_path / "none").exists()


def test_13_a_network_larger_than_the_memory_available_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(handprop.checks, "available_memory", lambda: 2 * 1024**3)
    with pytest.raises(ValueError, match=r"a 1000000000-1 network has 1,000,000,001 parameters, 14\.9 GiB in float64: "
                                         r"more than the 2 GiB of memory available"):
        Network([10**9, 1])
    with pytest.raises(ValueError, match=r"parameters, 11\.2 GiB in float32"):
        TrainConfig(arch=(10**9, 1), dtype="float32")


@pytest.mark.parametrize("make", [lambda: Network([2, 2], seed=-1), lambda: TrainConfig(seed=-1)], ids=["Network", "TrainConfig"])
def test_14_a_negative_seed_is_named(make):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -1"):
        make()


@pytest.fixture
def net():
    return Network([3, 2], seed=0)


W_OK, B_OK = np.zeros((2, 3)), np.zeros(2)


@pytest.mark.parametrize(
    "weights, biases, error, match",
    [
        ([W_OK + 1j], [B_OK], TypeError, r"weights\[0\] must be a real numeric array of shape \(2, 3\), got complex dtype complex128"),
        ([W_OK], [B_OK + 0j], TypeError, r"biases\[0\] must be a real numeric array of shape \(2,\), got complex"),
        (None, None, TypeError, r"weights must be a list of 1 arrays shaped \(2, 3\), got NoneType"),
        ([W_OK], None, TypeError, r"biases must be a list of 1 arrays shaped \(2,\), got NoneType"),
        ([None], [B_OK], TypeError, r"weights\[0\] must be a numeric array of shape \(2, 3\), got NoneType"),
        ([[["a", "b", "c"]] * 2], [B_OK], TypeError, r"weights\[0\] must be a numeric array of shape \(2, 3\), got dtype <U1"),
        ([[[1.0, 2.0, 3.0], [1.0]]], [B_OK], ValueError, r"weights\[0\] is ragged .*; expected a rectangular array of shape \(2, 3\)"),
        ([W_OK + 1e300], [B_OK], None, None),
    ],
    ids=["15-complex-weights", "15-complex-biases", "16-None", "16-None-biases", "16-None-layer", "16-strings", "17-ragged", "finite"],
)
def test_15_16_17_parameters_say_what_was_expected(net, weights, biases, error, match):
    if error is None:  # huge but representable: accepted unchanged
        net.set_parameters(weights, biases)
        assert net.weights[0][0, 0] == 1e300
        return
    before = [p.copy() for p in net.weights + net.biases]
    with pytest.raises(error, match=match):
        net.set_parameters(weights, biases)
    for p, q in zip(net.weights + net.biases, before):  # nothing half-replaced
        np.testing.assert_array_equal(p, q)


def test_15_complex_everywhere_is_refused_the_same_way(net):
    with pytest.raises(TypeError, match=r"weights\[0\] must be a real numeric array"):
        Network.from_parameters([W_OK + 1j], [B_OK])
    with pytest.raises(TypeError, match=r"X must be a real numeric array"):
        net.cost(np.zeros((1, 3)) + 1j, [0])


@pytest.mark.parametrize(
    "X, Y, error, match",
    [
        ([[0.0, 1.0, 2.0], [1.0]], [0, 1], ValueError, r"X is ragged \(its rows have different lengths\); expected a rectangular array of shape \(n, 3\)"),
        ([[0.0, 1.0, 2.0]], [[1.0, 0.0], [1.0]], ValueError, r"Y is ragged"),
        (None, [0], TypeError, r"X must be a numeric array of shape \(n, 3\), got NoneType"),
        ([[0.0, 1.0, 2.0]], np.array([1e20]), ValueError, r"Y has labels out of range \(e\.g\. 1e\+20\); expected integers in \[0, 1\]"),
        ([[0.0, 1.0, 2.0]], np.array([-1e20]), ValueError, r"Y has labels out of range \(e\.g\. -1e\+20\)"),
        ([[0.0, 1.0, 2.0]], np.array([np.iinfo(np.uint64).max]), ValueError, r"\(e\.g\. 18446744073709551615\)"),
    ],
    ids=["17-ragged-X", "17-ragged-Y", "16-None-X", "18-label-1e20", "18-label--1e20", "18-uint64"],
)
def test_17_18_inputs_and_labels_say_what_was_expected(net, X, Y, error, match):
    # filterwarnings = error: a RuntimeWarning from an overflowing cast would fail this test too
    with pytest.raises(error, match=match):
        net.cost(X, Y)

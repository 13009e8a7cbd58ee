"""grading/assignments/base.py piece by piece: the options, the case streams, the redraw of cases a
mistake would pass, and the judging of each way a call can end, with the feedback a student reads.

Each test was written against a mutant of base.py that the judging tests let through
(tools/mutation.py assignments --functions 'handprop.grading.assignments.base.*'; docs/testing.md)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from handprop.grading.assignments import ReturnedValue, get_assignment
from handprop.grading.assignments import base
from handprop.grading.assignments.base import MAX_DRAWS, as_array, as_sequence, which_parts
from handprop.grading.diagnose import TAGS


# Function-scoped on purpose: mutmut credits the code a fixture runs to the first test that asks for it.
@pytest.fixture
def network():
    return get_assignment("network")


@pytest.fixture
def case(network):
    return network.build_cases(seed=3, cases=1, hidden=0)["backprop"][0]


# -- options ---------------------------------------------------------------------------------------


def test_an_unknown_option_names_the_options_there_are():
    with pytest.raises(ValueError) as info:
        get_assignment("network", colour="red")
    assert str(info.value) == "unknown option 'colour' for the network assignment; expected some of hidden, output, cost"


def test_an_unknown_option_of_an_assignment_without_options_says_it_takes_none():
    assignment = get_assignment("chain-rule")
    if assignment.choices:
        pytest.fail(f"the chain-rule assignment gained options {assignment.choices}: pick one without")
    with pytest.raises(ValueError) as info:
        get_assignment("chain-rule", hidden="relu")
    assert str(info.value) == "unknown option 'hidden' for the chain-rule assignment; it takes none"


def test_a_bad_option_value_names_the_choices():
    with pytest.raises(ValueError) as info:
        get_assignment("network", hidden="swish")
    assert str(info.value) == "option hidden must be one of sigmoid, tanh, relu, got 'swish'"


@pytest.mark.parametrize("options, described", [({}, "network (hidden=sigmoid, output=sigmoid, cost=quadratic)"),
                                                ({"hidden": "relu"}, "network (hidden=relu, output=sigmoid, cost=quadratic)")])
def test_describe_lists_each_option(options, described):
    assert get_assignment("network", **options).describe() == described


def test_describe_of_an_assignment_without_options_is_its_name():
    assert get_assignment("chain-rule").describe() == "chain-rule"


# -- the cases -------------------------------------------------------------------------------------


def test_each_function_has_its_own_stream(network):
    """sigmoid and sigmoid_prime both take z: drawn from one stream they would get the same inputs."""
    suite = network.build_cases(seed=0, cases=2, hidden=0)
    assert not np.array_equal(suite["sigmoid"][0].args[0], suite["sigmoid_prime"][0].args[0])


def test_the_stream_is_salted_with_the_assignment_s_name(monkeypatch, network):
    seen = []
    real = base.case_rng
    monkeypatch.setattr(base, "case_rng", lambda seed, name, function: seen.append((seed, name, function)) or real(seed, name, function))
    network.build_cases(seed=7, cases=1, hidden=0)
    assert seen == [(7, "network", f) for f in network.functions]


def test_a_case_that_hides_a_mistake_is_drawn_again_and_said_after_the_last_draw(network, monkeypatch, caplog):
    monkeypatch.setattr(type(network), "hides_a_mistake", lambda self, case: True)
    with caplog.at_level(logging.WARNING, logger=base.logger.name):
        cases = network.build_cases(seed=0, cases=1, hidden=0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(network.functions)
    name = cases["sigmoid"][0].name
    assert warnings[0] == (f"{name}: after {MAX_DRAWS} draws some catalogued mistake still scores as right on this "
                           f"case, so its grade may miss that mistake; choose another --seed")  # fmt: skip


def test_a_mistake_hides_only_with_the_same_arrays_of_the_same_shapes_within_the_separation(network, case, monkeypatch):
    expected = case.expected  # backprop: (nabla_w, nabla_b)
    cls = type(network)

    def hides(values):
        monkeypatch.setattr(cls, "mistaken_values", lambda self, c: values)
        return network.hides_a_mistake(case)

    exact = ([w.copy() for w in expected[0]], [b.copy() for b in expected[1]])
    assert hides([exact])
    at_the_separation = ([w * (1 + base.SEPARATION) for w in expected[0]], [b.copy() for b in expected[1]])
    assert hides([at_the_separation])  # ≤ SEPARATION hides it
    beyond = ([w * (1 + 3 * base.SEPARATION) for w in expected[0]], [b.copy() for b in expected[1]])
    assert not hides([beyond])
    transposed = ([w.T.copy() for w in expected[0]], [b.copy() for b in expected[1]])
    assert not hides([transposed])  # another shape gives itself away
    fewer = ([w.copy() for w in expected[0][:-1]], [b.copy() for b in expected[1][:-1]])
    assert not hides([fewer])  # other arrays too
    assert hides([beyond, exact])  # any one mistake is enough


def test_two_mistakes_within_the_separation_of_each_other_hide_one_of_them(network, case, monkeypatch):
    """The diagnosis could name either of two mistakes whose results coincide, so the case is redrawn."""
    expected = case.expected
    cls = type(network)

    def hides(values):
        monkeypatch.setattr(cls, "mistaken_values", lambda self, c: values)
        return network.hides_a_mistake(case)

    def scaled(factor, bias_factor=1.0):
        return ([w * factor for w in expected[0]], [b * bias_factor for b in expected[1]])

    assert not hides([scaled(2.0), scaled(-1.0), scaled(0.5)])  # apart from the reference and from each other
    assert hides([scaled(2.0), scaled(-1.0), scaled(2.0 * (1 + base.SEPARATION))])
    assert not hides([scaled(2.0), scaled(2.0 * (1 + 3 * base.SEPARATION))])
    assert not hides([scaled(2.0), scaled(2.0, 3.0)])  # one array apart is enough
    assert not hides([scaled(2.0), ([w.T * 2 for w in expected[0]], [b * 2 for b in expected[1]])])  # other shapes


def test_tanh_backward_never_leaves_the_activation_and_the_missing_derivative_alike():
    """Where every |z| is large, tanh(z) ≈ 1 and da ⊙ tanh(z) ≈ da: the mistake 'σ(z) for σ′(z)' and
    'σ′(z) missing' give the same numbers. Such a case hides one of them and is drawn again (a
    student's case, found by hypothesis, was tagged with the wrong one)."""
    from handprop.grading.cases import Case

    layers = get_assignment("layers")
    z = np.array([[8.0, 9.0]])  # (1, 2)
    da = np.array([[0.5, 1.5]])  # (1, 2)
    a = np.tanh(z)
    alike = Case("tanh_backward", 1, [da, z], da * (1 - a**2), False, "z of shape (1, 2)")
    assert layers.hides_a_mistake(alike)
    z = np.array([[0.5, -1.0]])
    a = np.tanh(z)
    assert not layers.hides_a_mistake(Case("tanh_backward", 1, [da, z], da * (1 - a**2), False, "z of shape (1, 2)"))
    for case in layers.build_cases(seed=0, cases=40, hidden=0)["tanh_backward"]:
        assert not layers.hides_a_mistake(case)


# -- judging each way a call can end ---------------------------------------------------------------


def test_an_exception_is_failed_with_its_message(network, case):
    verdict = network.judge(case, ReturnedValue("exception", "ZeroDivisionError: division by zero"), 1e-5)
    assert not verdict.passed and verdict.tags == ["exception"]
    assert verdict.message == TAGS["exception"] + " ZeroDivisionError: division by zero"


def test_a_bad_return_is_not_an_array_with_its_message(network, case):
    verdict = network.judge(case, ReturnedValue("badreturn", "the returned value is a str"), 1e-5)
    assert not verdict.passed and verdict.tags == ["not-an-array"]
    assert verdict.message == network.sentences()["not-an-array"] + " the returned value is a str"


def test_a_value_that_is_not_numbers_is_not_an_array_with_the_reason(network, case):
    verdict = network.judge(case, ReturnedValue("ok", value=([None, None], [None, None])), 1e-5)
    assert not verdict.passed and verdict.tags == ["not-an-array"]
    assert verdict.message.startswith(network.sentences()["not-an-array"] + " ")
    assert "NoneType, expected a NumPy array of numbers" in verdict.message


def test_arguments_changed_in_place_are_named(network, case):
    verdict = network.judge(case, ReturnedValue("ok", value=case.expected, modified=[0, 2]), 1e-5)
    names = network.arguments("backprop")
    assert verdict.tags == ["modified-input"]
    assert verdict.message.endswith(f"Changed in place: {names[0]}, {names[2]}. No credit for this case.")
    assert network.judge(case, ReturnedValue("ok", value=case.expected, modified=[]), 1e-5).passed


def test_an_argument_past_the_known_names_is_counted_from_one(network):
    n = len(network.arguments("backprop"))
    assert network.argument_name("backprop", n - 1) == network.arguments("backprop")[-1]
    assert network.argument_name("backprop", n) == f"argument {n + 1}"
    assert network.argument_name("backprop", -1) == "argument 0"


def test_too_few_arrays_say_which_were_expected_and_which_came(network, case):
    got = network.tensors("backprop", case.expected)
    names = list(got)
    verdict = network.compare(case, {n: got[n] for n in names[:1]}, got, 1e-5)
    assert verdict.tags == ["wrong-shape"]
    assert verdict.message.endswith(f"Expected {len(names)} arrays ({', '.join(names)}), got 1 ({names[0]}).")
    two = network.compare(case, {n: got[n] for n in names[:2]}, got, 1e-5)
    assert two.message.endswith(f"got 2 ({names[0]}, {names[1]}).")
    assert network.compare(case, {}, got, 1e-5).message.endswith("got 0 (none).")


def test_a_wrong_shape_says_each_array_and_keeps_both_readings(network, case):
    expected = network.tensors("backprop", case.expected)
    first = next(iter(expected))
    got = dict(expected, **{first: expected[first].T.copy()})
    verdict = network.compare(case, got, expected, 1e-5)
    assert not verdict.passed and verdict.candidates and verdict.tags == list(verdict.candidates[0])
    assert f"{first}: expected shape {expected[first].shape}, got {expected[first].T.shape}." in verdict.message


def test_several_wrong_shapes_are_each_said(network, case):
    expected = network.tensors("backprop", case.expected)
    first, second = [n for n, e in expected.items() if e.ndim == 2 and e.shape[0] != e.shape[1]][:2]  # two weight gradients
    got = dict(expected, **{first: expected[first].T.copy(), second: expected[second].T.copy()})
    verdict = network.compare(case, got, expected, 1e-5)
    said = [f"{n}: expected shape {expected[n].shape}, got {expected[n].T.shape}." for n in (first, second)]
    assert verdict.message.endswith(" ".join(said))


def test_a_shape_that_fits_two_mistakes_keeps_both_readings(network, case, monkeypatch):
    monkeypatch.setattr(network, "shape_tags", lambda case, name, got, expected: ("transposed", "bias-not-reduced"))
    expected = network.tensors("backprop", case.expected)
    first = next(iter(expected))
    verdict = network.compare(case, dict(expected, **{first: expected[first].T.copy()}), expected, 1e-5)
    assert verdict.tags == ["transposed"] and verdict.candidates == [("transposed",), ("bias-not-reduced",)]


def test_a_mistake_exactly_at_the_separation_still_hides(network, case, monkeypatch):
    """The redraw's bound is inclusive: a mistake off by exactly SEPARATION is as good as right."""
    monkeypatch.setattr(type(network), "mistaken_values", lambda self, c: [c.expected])
    monkeypatch.setattr(base, "relative_error", lambda got, expected: base.SEPARATION)
    assert network.hides_a_mistake(case)
    monkeypatch.setattr(base, "relative_error", lambda got, expected: base.SEPARATION * 1.0001)
    assert not network.hides_a_mistake(case)


def test_a_result_exactly_at_rtol_passes(network, case):
    expected = network.tensors("backprop", case.expected)
    rtol = 1e-5
    first = next(iter(expected))
    scale = float(np.max(np.abs(expected[first])))
    got = dict(expected)
    bumped = expected[first].copy()
    bumped.flat[int(np.argmax(np.abs(bumped)))] += rtol * scale / 2  # an error of rtol/2 relative
    got[first] = bumped
    verdict = network.compare(case, got, expected, rtol)
    assert verdict.passed and 0 < verdict.error <= rtol
    exact = network.compare(case, dict(expected), expected, 0.0)  # error 0 passes even at rtol 0
    assert exact.passed and exact.error == 0.0


def test_no_arrays_expected_and_none_given_passes_with_error_zero(network, case):
    verdict = network.compare(case, {}, {}, 1e-5)
    assert verdict.passed and verdict.error == 0.0


def test_an_assignment_s_default_sentences_are_the_tags(network):
    """Every built-in assignment words its own; a new one starts from TAGS."""
    assert base.Assignment.sentences(network) == dict(TAGS)


def test_the_shape_tag_is_wrong_shape(network, case):
    assert base.Assignment.shape_tags(network, case, "x", (1,), (2,)) == ("wrong-shape",)


# -- helpers ----------------------------------------------------------------------------------------


def test_which_parts_names_the_right_and_the_wrong():
    assert which_parts({"W1": 0.0, "W2": 0.5, "b1": 1e-5}, 1e-5) == " Right: W1, b1. Wrong: W2."
    assert which_parts({"W1": 0.5, "W2": 0.5}, 1e-5) == ""  # all wrong: nothing to add
    assert which_parts({"W1": 0.5}, 1e-5) == ""  # one array: nothing to add
    assert which_parts({"W1": 0.0, "W2": 0.5}, 1e-5) == " Right: W1. Wrong: W2."
    assert which_parts({"W1": 0.0, "W2": 0.5, "b1": 0.5}, 1e-5) == " Right: W1. Wrong: W2, b1."


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "x is a bool, expected a NumPy array of numbers"),
        (None, "x is a NoneType, expected a NumPy array of numbers"),
        ("1.0", "x is a str, expected a NumPy array of numbers"),
        ({"a": 1}, "x is a dict, expected a NumPy array of numbers"),
        ([[1.0], [1.0, 2.0]], "x could not be read as an array of numbers"),
        (np.array([1 + 2j]), "x has dtype complex128, expected real numbers (a float array)"),
    ],
)
def test_as_array_says_why_a_value_is_not_numbers(value, message):
    with pytest.raises(ValueError) as info:
        as_array(value, "x")
    assert str(info.value) == message


def test_as_array_gives_float64():
    array = as_array(np.array([1, 2], dtype=np.int32), "x")
    assert array.dtype == np.float64 and array.tolist() == [1.0, 2.0]


def test_as_sequence_says_what_it_expects():
    with pytest.raises(ValueError) as info:
        as_sequence(np.zeros(2), 2, "nabla")
    assert str(info.value) == "nabla must be a tuple or list, got ndarray"
    with pytest.raises(ValueError) as info:
        as_sequence([1, 2, 3], 2, "nabla")
    assert str(info.value) == "nabla must have 2 items, got 3"
    assert as_sequence((1, 2), None, "nabla") == (1, 2)


def test_a_run_without_a_modified_list_is_judged_as_unmodified(network, case):
    """judge takes anything with status, message and value (ReturnedValue's docstring): a run that
    says nothing of modified arguments modified none."""
    import types

    run = types.SimpleNamespace(status="ok", message="", value=case.expected)
    assert network.judge(case, run, 1e-5).passed

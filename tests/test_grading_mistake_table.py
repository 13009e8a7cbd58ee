"""The mistake × case table: every catalogued mistake fails every case of the default case set of the
function it affects, with exactly its tag; the correct submission passes every case with no tag.

Run in this process (trusted test code), on every assignment and every option of the network
assignment, so a new case that hides a mistake fails here.
"""

from __future__ import annotations

import itertools

import pytest

from handprop.grading.assignments import get_assignment
from handprop.grading.assignments.network import OPTIONS

from assign_helpers import (
    CHAIN_MISTAKES, CHAIN_SOURCE, LAYERS_MISTAKES, LAYERS_SOURCE, judge_source, mutate, network_mistake, network_prime_mistake, network_source,
)

NETWORK_CONFIGS = list(itertools.product(OPTIONS["hidden"], OPTIONS["output"], OPTIONS["cost"]))


def _id(config):
    return "-".join(config)


@pytest.fixture(scope="module", params=NETWORK_CONFIGS, ids=_id)
def network(request):
    hidden, output, cost = request.param
    assignment = get_assignment("network", hidden=hidden, output=output, cost=cost)
    return assignment, assignment.build_cases(seed=0, cases=5, hidden=0), request.param


def test_the_correct_network_submission_passes_every_case_without_tags(network):
    assignment, suite, config = network
    verdicts = judge_source(assignment, network_source(*config), suite)
    assert all(v.passed and v.tags == [] for vs in verdicts.values() for v in vs)


def test_every_network_mistake_fails_every_case_with_exactly_its_tag(network):
    assignment, suite, config = network
    table: dict[tuple[str, str], list[list[str]]] = {}
    for function in ("backprop", "update_mini_batch"):  # update_mini_batch inherits backprop's mistake
        for tag in assignment.mistakes(function):
            source = mutate(network_source(*config), *network_mistake(tag, *config))
            verdicts = judge_source(assignment, source, suite, [function])[function]
            table[(function, tag)] = [[] if v.passed else v.tags for v in verdicts]
    missed = {key: row for key, row in table.items() if row != [[key[1]]] * len(row)}
    assert not missed, missed
    assert {tag for _, tag in table} >= {"missing-batch-mean", "sign-flipped", "missing-activation-derivative", "missing-target",
                                         "activation-instead-of-derivative"}  # fmt: skip


def test_the_derivative_function_and_feedforward_mistakes(network):
    assignment, suite, (hidden, output, cost) = network
    prime = assignment.functions[1]
    source = network_source(hidden, output, cost)
    expected = {"derivative-of-activation-not-preactivation", "activation-instead-of-derivative"}
    assert set(assignment.mistakes(prime)) == (expected if hidden != "relu" else expected - {"derivative-of-activation-not-preactivation"})
    for tag in assignment.mistakes(prime):
        wrong = mutate(source, *network_prime_mistake(hidden, tag))
        verdicts = judge_source(assignment, wrong, suite, [prime, "backprop"])
        assert all(not v.passed and v.tags == [tag] for v in verdicts[prime]), (tag, verdicts[prime])
        assert all(not v.passed and v.tags == [tag] for v in verdicts["backprop"])  # it calls the wrong derivative
    transposed = mutate(source, ("    return a\n\n\ndef backprop", "    return a.T\n\n\ndef backprop"))
    verdicts = judge_source(assignment, transposed, suite, ["feedforward"])["feedforward"]
    assert all(not v.passed and v.tags == ["transposed"] for v in verdicts)


def test_gradient_cases_have_a_hidden_layer_and_a_batch_of_three(network):
    assignment, suite, _ = network
    for function in ("feedforward", "backprop", "update_mini_batch"):
        for case in suite[function]:
            weights, x = case.args[0], case.args[2]
            assert len(weights) >= 2 and x.shape[0] >= 3 and x.shape[0] != 2


def test_a_function_that_modifies_its_input_loses_that_case():
    assignment = get_assignment("network")
    suite = assignment.build_cases(seed=0, cases=3, hidden=0)
    source = mutate(network_source(), ("    n = x.shape[0]\n", "    n = x.shape[0]\n    weights[0] -= 0.0 * weights[0] + 1e-3\n"))
    verdicts = judge_source(assignment, source, suite, ["backprop", "update_mini_batch"])
    for v in verdicts["backprop"]:
        assert not v.passed and v.tags == ["modified-input"] and "weights" in v.message
    # update_mini_batch passes its own copies on: modified as well, and it says so
    assert all(v.tags == ["modified-input"] for v in verdicts["update_mini_batch"])


CATALOGUES = {"chain-rule": (CHAIN_SOURCE, CHAIN_MISTAKES), "layers": (LAYERS_SOURCE, LAYERS_MISTAKES)}


@pytest.mark.parametrize("name", sorted(CATALOGUES))
def test_the_correct_submission_passes_and_every_mistake_fails_every_case_with_its_tag(name):
    assignment = get_assignment(name)
    suite = assignment.build_cases(seed=0, cases=5, hidden=0)
    source, catalogue = CATALOGUES[name]
    verdicts = judge_source(assignment, source, suite)
    assert all(v.passed and v.tags == [] for vs in verdicts.values() for v in vs)
    assert {f: set(catalogue.get(f, {})) for f in assignment.functions} == {f: set(assignment.mistakes(f)) for f in assignment.functions}
    table = {}
    for function, mistakes in catalogue.items():
        for tag, changes in mistakes.items():
            row = judge_source(assignment, mutate(source, *changes), suite, [function])[function]
            table[(function, tag)] = [[] if v.passed else v.tags for v in row]
    missed = {key: row for key, row in table.items() if row != [[key[1]]] * len(row)}
    assert not missed, missed


def test_a_gradient_list_of_the_wrong_length_is_wrong_shape():
    assignment = get_assignment("network")
    suite = assignment.build_cases(seed=0, cases=2, hidden=0)
    source = mutate(network_source(), ("    return nabla_w, nabla_b\n", "    return nabla_w[1:], nabla_b[1:]\n"))
    verdicts = judge_source(assignment, source, suite, ["backprop"])["backprop"]
    assert all(v.tags == ["wrong-shape"] and "∂C/∂W1" in v.message for v in verdicts)


ALL_ASSIGNMENTS = [("network", dict(zip(("hidden", "output", "cost"), c))) for c in NETWORK_CONFIGS] + [("chain-rule", {}), ("layers", {})]


@pytest.mark.parametrize("seed", [1, 2026])
def test_other_seeds_also_separate_every_catalogued_mistake(seed):
    """Cases are drawn again while a mistake's result lands near the reference (a dead ReLU layer,
    a tiny step): for any seed, no catalogued mistake passes any case."""
    for name, options in ALL_ASSIGNMENTS:
        assignment = get_assignment(name, **options)
        for cases in assignment.build_cases(seed=seed, cases=7, hidden=0).values():
            assert not any(assignment.hides_a_mistake(case) for case in cases), (name, options, seed)

"""The network assignment piece by piece: its functions, points and arguments (the template's own
signatures), its cases (seeded, numbered, described), the shape of a mistake, the mistakes it can
name for each choice of options, its feedback, and the diagnosis of update_mini_batch's mistakes,
which are read back from the new parameters as ∇ = (old − new) / η.

Written against the mutants of grading/assignments/network.py that the judging tests let through
(tools/mutation.py assignments --functions 'handprop.grading.assignments.network.*'; docs/testing.md)."""

from __future__ import annotations

import ast
import itertools

import numpy as np
import pytest

from handprop.activations import ACTIVATIONS
from handprop.grading.assignments import ReturnedValue, get_assignment
from handprop.grading.assignments.network import OPTIONS
from handprop.grading.cases import Case
from handprop.grading.diagnose import TAGS
from handprop.network import Network

from assign_helpers import case_digest, judge_source, mutate, network_mistake, network_source

COMBINATIONS = [dict(zip(OPTIONS, values)) for values in itertools.product(*OPTIONS.values())]

# build_cases(seed=0, cases=3, hidden=1)'s arguments, hashed as the test below does, when they were
# first pinned (2026-12-08). Changing how cases are drawn changes every student's cases on a regrade:
# do it on purpose, say so in the changelog, and update this.
DIGEST_OF_SEED_0 = "b2786b57d9c09223"


def network(**options):
    return get_assignment("network", **options)


def judged(assignment, case, value, rtol=1e-5):
    return assignment.judge(case, ReturnedValue("ok", value=value), rtol)


# -- what the student writes ----------------------------------------------------------------------


@pytest.mark.parametrize("hidden", OPTIONS["hidden"])
def test_functions_points_and_the_calls_between_them(hidden):
    a = network(hidden=hidden)
    assert a.functions == (hidden, f"{hidden}_prime", "feedforward", "backprop", "update_mini_batch")
    assert a.points == {hidden: 1.0, f"{hidden}_prime": 1.0, "feedforward": 2.0, "backprop": 4.0, "update_mini_batch": 2.0}
    assert a.calls == {"update_mini_batch": ("backprop",), "backprop": (f"{hidden}_prime",), "feedforward": (hidden,)}


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "-".join(o.values()))
def test_the_arguments_are_the_template_s_parameters(options):
    """The names a message uses for an argument ("changed weights in place") are the template's."""
    a = network(**options)
    tree = ast.parse(a.template())
    signatures = {f.name: tuple(arg.arg for arg in f.args.args) for f in tree.body if isinstance(f, ast.FunctionDef)}
    for function in a.functions:
        assert a.arguments(function) == signatures[function], function
    assert a.arguments(a.functions[0]) == ("z",) and a.arguments("update_mini_batch")[-1] == "eta"


# -- the cases ------------------------------------------------------------------------------------


@pytest.fixture
def suite():
    return network().build_cases(seed=0, cases=3, hidden=1)


def test_the_cases_of_a_seed_never_change(suite):
    """A regrade must meet the same cases: the drawn numbers of seed 0, to 12 digits."""
    assert case_digest(suite) == DIGEST_OF_SEED_0


def test_the_cases_are_numbered_from_one_and_described(suite):
    for function, cases in suite.items():
        assert [c.number for c in cases] == [1, 2, 3], function
    for case in suite["sigmoid"] + suite["sigmoid_prime"]:
        assert case.description == f"z of shape {case.args[0].shape}"
    for case in suite["feedforward"] + suite["backprop"] + suite["update_mini_batch"]:
        weights, x = case.args[0], case.args[2]
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        text = f"layers {'-'.join(map(str, sizes))}, batch of {x.shape[0]}"
        if case.function == "update_mini_batch":
            text += f", eta = {case.args[4]:.3g}"
        assert case.description == text


def test_the_drawn_numbers_keep_to_their_ranges():
    """z ~ N(0, 3²) over 1 to 7 units, inputs in [0, 1), η in [0.1, 3): over many cases each range is
    reached near both ends and never passed."""
    suite = network().build_cases(seed=5, cases=60, hidden=0)
    z = np.concatenate([c.args[0].ravel() for c in suite["sigmoid"]])
    assert abs(z.mean()) < 0.3 and 2.7 < z.std() < 3.3
    units = {c.args[0].shape[1] for c in suite["sigmoid"] + suite["sigmoid_prime"]}
    assert units == set(range(1, 8))
    x = np.concatenate([c.args[2].ravel() for c in suite["feedforward"]])
    assert 0.0 <= x.min() < 0.02 and 0.98 < x.max() < 1.0
    eta = np.array([c.args[4] for c in suite["update_mini_batch"]])
    assert 0.1 <= eta.min() < 0.4 and 2.7 < eta.max() < 3.0


def test_each_case_s_expected_value_is_the_engine_s(suite):
    for case in suite["sigmoid"]:
        np.testing.assert_array_equal(case.expected, ACTIVATIONS["sigmoid"](case.args[0]))
    for case in suite["sigmoid_prime"]:
        z = case.args[0]
        np.testing.assert_array_equal(case.expected, ACTIVATIONS["sigmoid"].prime(z, ACTIVATIONS["sigmoid"](z)))
    for case in suite["update_mini_batch"]:
        weights, biases, x, y, eta = case.args
        net = Network.from_parameters(weights, biases, hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")
        nabla_w, nabla_b = net.backprop(x, y)
        for new, old, g in zip(case.expected[0], weights, nabla_w):
            np.testing.assert_array_equal(new, old - eta * g)
        for new, old, g in zip(case.expected[1], biases, nabla_b):
            np.testing.assert_array_equal(new, old - eta * g)


# -- the shape of a mistake -----------------------------------------------------------------------


def backprop_case(n: int, sizes=(3, 4, 5)) -> Case:
    rng = np.random.default_rng(n)
    weights = [rng.normal(size=(o, i)) for i, o in zip(sizes, sizes[1:])]
    biases = [rng.normal(size=o) for o in sizes[1:]]
    x = rng.uniform(size=(n, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    net = Network.from_parameters(weights, biases, dtype="float64")
    return Case("backprop", 1, [weights, biases, x, y], net.backprop(x, y), False, "")


def test_a_transposed_weight_gradient_is_said_and_a_transposed_bias_is_only_a_wrong_shape():
    a, case = network(), backprop_case(3)
    assert a.shape_tags(case, "∂C/∂W2", (4, 5), (5, 4)) == ("transposed",)
    assert a.shape_tags(case, "∂C/∂W12", (4, 5), (5, 4)) == ("transposed",)  # layer numbers of two digits
    assert a.shape_tags(case, "∂C/∂W2", (4, 6), (5, 4)) == ("wrong-shape",)
    assert a.shape_tags(case, "∂C/∂W2", (5, 4, 1), (5, 4)) == ("wrong-shape",)
    feedforward = Case("feedforward", 1, case.args[:3], np.zeros((3, 5)), False, "")
    assert a.shape_tags(feedforward, "a⁽ᴸ⁾", (5, 3), (3, 5)) == ("transposed",)
    assert a.shape_tags(feedforward, "a⁽ᴸ⁾", (5, 4), (3, 5)) == ("wrong-shape",)
    assert a.shape_tags(case, "∂C/∂b2", (1, 5), (5, 1)) == ("wrong-shape",)  # a bias is no weight


@pytest.mark.parametrize("n", [3, 6])
def test_a_bias_gradient_per_example_is_not_reduced(n):
    a, case = network(), backprop_case(n)
    assert a.shape_tags(case, "∂C/∂b2", (n, 5), (5,)) == ("bias-not-reduced",)
    assert a.shape_tags(case, "∂C/∂b1", (n, 4), (4,)) == ("bias-not-reduced",)
    assert a.shape_tags(case, "∂C/∂b2", (n,), (5,)) == ("bias-not-reduced",)  # summed over the units: (n,)
    assert a.shape_tags(case, "∂C/∂b2", (n + 1, 5), (5,)) == ("wrong-shape",)
    update = Case("update_mini_batch", 1, [*case.args, 0.5], case.expected, False, "")
    assert a.shape_tags(update, "new b2", (n, 5), (5,)) == ("bias-not-reduced",)
    forward = Case("feedforward", 1, case.args[:3], np.zeros((n, 5)), False, "")
    assert a.shape_tags(forward, "b", (n, 5), (5,)) == ("wrong-shape",)  # only the gradient functions have biases


def test_summed_over_the_units_is_told_apart_only_when_the_batch_is_not_the_layer_s_width():
    a, case = network(), backprop_case(5)  # n = 5 = the output layer's width
    assert a.shape_tags(case, "∂C/∂b2", (5,), (5,)) == ("wrong-shape",)
    one = backprop_case(1)  # a batch of one: (1, out) is also a wrong shape
    assert a.shape_tags(one, "∂C/∂b2", (1, 5), (5,)) == ("bias-not-reduced", "wrong-shape")
    assert a.shape_tags(one, "∂C/∂b2", (1,), (5,)) == ("bias-not-reduced", "wrong-shape")


# -- the mistakes it can name ---------------------------------------------------------------------

SHARED = ("missing-batch-mean", "double-batch-mean", "sign-flipped", "factor-2", "missing-activation-derivative",
          "bias-not-reduced", "missing-target", "activation-instead-of-derivative")  # fmt: skip


@pytest.mark.parametrize("options, extra", [
    (dict(hidden="sigmoid", output="sigmoid", cost="quadratic"), ("derivative-of-activation-not-preactivation",)),
    (dict(hidden="tanh", output="softmax", cost="cross_entropy"), ("derivative-of-activation-not-preactivation", "output-derivative-not-cancelled")),
    (dict(hidden="relu", output="sigmoid", cost="quadratic"), ("derivative-of-activation-not-preactivation",)),  # σ′(a) at the output
    (dict(hidden="relu", output="softmax", cost="quadratic"), ()),
    (dict(hidden="relu", output="sigmoid", cost="cross_entropy"), ("output-derivative-not-cancelled",)),
])  # fmt: skip
def test_the_mistakes_of_each_function(options, extra):
    a = network(**options)
    h = options["hidden"]
    assert a.mistakes("update_mini_batch") == SHARED + extra
    assert a.mistakes("backprop") == SHARED + extra + ("transposed",)
    assert a.mistakes("feedforward") == ("transposed",)
    assert a.mistakes(h) == ()
    primes = ("activation-instead-of-derivative",) if h == "relu" else ("derivative-of-activation-not-preactivation", "activation-instead-of-derivative")
    assert a.mistakes(f"{h}_prime") == primes


# -- the feedback ---------------------------------------------------------------------------------


def test_the_feedback_follows_the_cost_and_the_output():
    quadratic = network().sentences()
    assert quadratic == dict(TAGS)
    softmax = network(output="softmax").sentences()
    assert softmax == {**TAGS, "missing-activation-derivative": (
        "The activation's derivative is missing from δ: at the softmax output δ = Jᵀ(a − y), with J the softmax "
        "Jacobian, and in hidden layers δ = (δ_next W_next) ⊙ σ′(z).")}  # fmt: skip
    for output in OPTIONS["output"]:
        assert network(output=output, cost="cross_entropy").sentences() == {
            **TAGS,
            "factor-2": "Off by a factor of 2: with the cross-entropy cost the output error is δ = a − y, with no factor 2 (and no ½).",
            "missing-activation-derivative": (
                "σ′(z) is missing from δ in a hidden layer: δ = (δ_next W_next) ⊙ σ′(z) there (only at the output does it cancel)."),
        }  # fmt: skip


# -- update_mini_batch's mistakes, read back from the new parameters ------------------------------


@pytest.mark.parametrize("options", [dict(hidden="sigmoid", output="sigmoid", cost="quadratic"), dict(hidden="tanh", output="softmax", cost="cross_entropy")],
                         ids=lambda o: "-".join(o.values()))  # fmt: skip
def test_every_mistake_of_update_mini_batch_is_named_on_every_case(options):
    a = network(**options)
    suite = a.build_cases(seed=3, cases=4, hidden=0)
    source = network_source(**options)
    assert all(v.passed for v in judge_source(a, source, suite, ["update_mini_batch"])["update_mini_batch"])
    for tag in a.mistakes("update_mini_batch"):
        verdicts = judge_source(a, mutate(source, *network_mistake(tag, **options)), suite, ["update_mini_batch"])["update_mini_batch"]
        assert [v.tags for v in verdicts] == [[tag]] * 4, (tag, [v.tags for v in verdicts])


def test_an_update_with_the_wrong_sign_or_without_eta_is_named():
    a = network()
    case = a.build_cases(seed=4, cases=1, hidden=0)["update_mini_batch"][0]
    weights, biases, x, y, eta = case.args
    new_w, new_b = case.expected
    gw = [w - nw for w, nw in zip(weights, new_w)]  # η∇
    gb = [b - nb for b, nb in zip(biases, new_b)]
    uphill = ([w + g for w, g in zip(weights, gw)], [b + g for b, g in zip(biases, gb)])
    assert judged(a, case, uphill).tags == ["sign-flipped"]
    twice = ([w - 2 * g for w, g in zip(weights, gw)], [b - 2 * g for b, g in zip(biases, gb)])
    assert judged(a, case, twice).tags == ["factor-2"]
    assert judged(a, case, case.expected).passed


def test_a_formula_mistake_and_a_missing_batch_mean_are_both_named():
    """A wrong formula may come with a scale mistake on top: the batch size n is passed on to the diagnosis."""
    a = network()
    suite = a.build_cases(seed=3, cases=2, hidden=0)
    for tag in ("missing-activation-derivative", "missing-target"):
        source = mutate(mutate(network_source(), *network_mistake(tag)), ("y) / n\n", "y)\n"))
        for function in ("backprop", "update_mini_batch"):
            verdicts = judge_source(a, source, suite, [function])[function]
            assert [v.tags for v in verdicts] == [["missing-batch-mean", tag]] * 2, (tag, function)


# -- the catalogue: what each mistake returns, and its bounds ---------------------------------------


def square_case(function: str, options: dict, n: int = 4, width: int = 4) -> Case:
    """Every layer width × width and the batch as large: transposes and sums over the units keep their shape."""
    rng = np.random.default_rng(7)
    weights = [rng.normal(size=(width, width)) for _ in range(3)]
    biases = [rng.normal(size=width) for _ in range(3)]
    x = rng.uniform(size=(n, width))
    y = np.eye(width)[rng.integers(0, width, n)]
    net = Network.from_parameters(weights, biases, dtype="float64", **options)
    nabla_w, nabla_b = net.backprop(x, y)
    if function == "backprop":
        return Case(function, 1, [weights, biases, x, y], (nabla_w, nabla_b), False, "")
    eta = 0.7
    new = ([w - eta * g for w, g in zip(weights, nabla_w)], [b - eta * g for b, g in zip(biases, nabla_b)])
    return Case(function, 1, [weights, biases, x, y, eta], new, False, "")


@pytest.mark.parametrize("function", ["backprop", "update_mini_batch"])
@pytest.mark.parametrize("options", [dict(hidden="sigmoid", output="sigmoid", cost="quadratic"), dict(hidden="tanh", output="softmax", cost="cross_entropy")],
                         ids=lambda o: "-".join(o.values()))  # fmt: skip
def test_the_catalogue_s_values_are_each_mistake_s_result(function, options):
    """What the redraw checks a case against, each written out here: the transposed weights, the five
    scales, every wrong formula of _variants, and the biases summed over the units."""
    from handprop.grading.variants import variant_backprop

    a = network(**options)
    case = square_case(function, options)
    weights, biases, x, y = case.args[:4]
    n = x.shape[0]
    net = Network.from_parameters(weights, biases, dtype="float64", **options)
    g_w, g_b = net.backprop(x, y)

    def returned(v_w, v_b):
        if function == "backprop":
            return (v_w, v_b)
        eta = case.args[4]
        return ([w - eta * v for w, v in zip(weights, v_w)], [b - eta * v for b, v in zip(biases, v_b)])

    wanted = [returned([g.T for g in g_w], g_b)]
    wanted += [returned([s * g for g in g_w], [s * g for g in g_b]) for s in (n, 1 / n, -1.0, 2.0, 0.5)]
    for kwargs, _ in a._variants(len(weights)):
        v_w, v_b, _ = variant_backprop(weights, biases, x, y, options["hidden"], options["output"], options["cost"], **kwargs)
        wanted.append(returned(v_w, v_b))
    _, _, deltas = variant_backprop(weights, biases, x, y, options["hidden"], options["output"], options["cost"])
    wanted.append(returned(g_w, [d.sum(axis=1) for d in deltas]))
    values = a.mistaken_values(case)
    assert len(values) == len(wanted)
    for k, (got, expected) in enumerate(zip(values, wanted)):
        for g, e in zip(got[0] + got[1], expected[0] + expected[1]):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15, err_msg=f"value {k}")


def test_no_transpose_or_sum_over_units_is_offered_where_the_shape_tells():
    a = network()
    case = backprop_case(3, sizes=(2, 6, 5))  # no square layer, and no layer 3 wide
    assert len(a.mistaken_values(case)) == 5 + len(a._variants(2))  # the scales and the formulas only
    square = backprop_case(3, sizes=(2, 2, 5))
    assert len(a.mistaken_values(square)) == 5 + len(a._variants(2)) + 1  # and the transpose
    three = backprop_case(3, sizes=(2, 6, 3))
    assert len(a.mistaken_values(three)) == 5 + len(a._variants(2)) + 1  # and the sum over the 3 units


@pytest.mark.parametrize("options, variants", [
    (dict(hidden="sigmoid", output="sigmoid", cost="quadratic"),
     [("a", "all"), ("activation", "all"), ("formula-on-z", "all"), ("none", "all"), ("a", "output"), ("activation", "output"),
      ("formula-on-z", "output"), ("none", "output"), ("a", "hidden"), ("activation", "hidden"), ("formula-on-z", "hidden"),
      ("none", "hidden"), "missing-target"]),
    (dict(hidden="relu", output="sigmoid", cost="quadratic"),
     [("activation", "all"), ("none", "all"), ("a", "output"), ("activation", "output"), ("formula-on-z", "output"), ("none", "output"),
      ("activation", "hidden"), ("none", "hidden"), "missing-target"]),
    (dict(hidden="tanh", output="softmax", cost="quadratic"),
     [("none", "all"), ("none", "output"), ("a", "hidden"), ("activation", "hidden"), ("formula-on-z", "hidden"), ("none", "hidden"), "missing-target"]),
    (dict(hidden="tanh", output="softmax", cost="cross_entropy"),
     [("a", "hidden"), ("activation", "hidden"), ("formula-on-z", "hidden"), ("none", "hidden"), "missing-target", "not-cancelled"]),
])  # fmt: skip
def test_the_wrong_formulas_tried_for_each_choice_of_options(options, variants):
    """The output layer's own mistakes only where its derivative is element-wise (sigmoid with the
    quadratic cost); "all" only where both layers share the mistake."""
    got = network(**options)._variants(3)
    spelled = [(k["derivative"], k["where"]) if "derivative" in k else k["output_error"] for k, _ in got]
    assert spelled == variants
    assert got[-1][1] == ("output-derivative-not-cancelled" if options["cost"] == "cross_entropy" else "missing-target")


def test_a_network_without_hidden_layers_has_no_hidden_formulas():
    assert all(k.get("where") != "hidden" for k, _ in network()._variants(1))
    assert any(k.get("where") == "hidden" for k, _ in network()._variants(2))


@pytest.mark.parametrize("hidden", OPTIONS["hidden"])
def test_the_derivative_s_catalogue_is_each_wrong_derivative(hidden):
    from handprop.grading.variants import DERIVATIVE_MISTAKES, prime

    a = network(hidden=hidden)
    case = a.build_cases(seed=1, cases=1, hidden=0)[f"{hidden}_prime"][0]
    z = case.args[0]
    wanted = [prime(hidden, kind, z, ACTIVATIONS[hidden](z)) for kind in DERIVATIVE_MISTAKES[hidden] if kind != "none"]
    values = a.mistaken_values(case)
    assert len(values) == len(wanted) and all(np.array_equal(v, w) for v, w in zip(values, wanted))


def test_a_transposed_output_is_named_only_when_it_is_the_transpose():
    a = network()
    rng = np.random.default_rng(2)
    weights, biases = [rng.normal(size=(3, 3)), rng.normal(size=(3, 3))], [rng.normal(size=3), rng.normal(size=3)]
    x = rng.uniform(size=(3, 3))
    out = Network.from_parameters(weights, biases, dtype="float64").forward(x)
    square = Case("feedforward", 1, [weights, biases, x], out, False, "")
    assert [v.T.tolist() for v in a.mistaken_values(square)] == [out.tolist()]
    assert judged(a, square, out.T.copy()).tags == ["transposed"]
    assert "transposed" not in judged(a, square, out + 0.3).tags
    assert "transposed" not in judged(a, square, out[::-1].copy()).tags  # rows swapped: no transpose
    tall = Case("feedforward", 1, [weights, biases, np.vstack([x, x])], np.vstack([out, out]), False, "")
    assert a.mistaken_values(tall) == []  # its shape gives a transpose away
    assert judged(a, tall, np.vstack([out, out]).T.copy()).tags == ["transposed"]


def test_an_activation_doubled_is_not_a_factor_of_two():
    """σ(z) has no factor-2 mistake to make (the ½ of the quadratic cost is not in it)."""
    a = network()
    case = a.build_cases(seed=1, cases=1, hidden=0)["sigmoid"][0]
    assert "factor-2" not in judged(a, case, 2 * case.expected).tags
    assert judged(a, case, case.expected).passed


@pytest.mark.parametrize("options", [dict(hidden="sigmoid", output="sigmoid", cost="quadratic"), dict(hidden="sigmoid", output="softmax", cost="cross_entropy")],
                         ids=lambda o: "-".join(o.values()))  # fmt: skip
@pytest.mark.parametrize("function", ["backprop", "update_mini_batch"])
def test_biases_summed_over_the_units_are_named_for_each_cost(options, function):
    a = network(**options)
    case = square_case(function, options)
    summed = a.mistaken_values(case)[-1]
    assert judged(a, case, summed).tags == ["bias-not-reduced"]


# -- the bounds: each comparison is inclusive where it should be -----------------------------------


TOL = 1e-6


def gradients_dict(a, case, value):
    return a.tensors(case.function, value)


def test_a_transpose_exactly_at_the_tolerance_is_named(monkeypatch):
    """The transposed gradient's check: ≤ tol against the transpose, > tol against the original, the
    other arrays ≤ tol. ``relative_error`` is replaced to sit exactly on each of those lines."""
    from handprop.grading.assignments import network as module

    a = network()
    rng = np.random.default_rng(3)
    weights, biases = [rng.normal(size=(4, 4)), rng.normal(size=(3, 4))], [rng.normal(size=4), rng.normal(size=3)]  # W1 square, W2 not
    x, y = rng.uniform(size=(5, 4)), np.eye(3)[rng.integers(0, 3, 5)]
    case = Case("backprop", 1, [weights, biases, x, y], Network.from_parameters(weights, biases, dtype="float64").backprop(x, y), False, "")
    (transposed, *_) = a.catalogue(case)
    got = gradients_dict(a, case, case.expected)

    def on_the_line(transposed_error, other_error):
        def error(g, e):
            if e.ndim == 2 and not e.flags.c_contiguous:  # compared with a transpose
                return transposed_error
            if e.ndim == 2 and e.shape[0] == e.shape[1]:  # the square layer against its original: far
                return 2 * TOL
            return other_error  # the other layer and the biases
        return error

    monkeypatch.setattr(module, "relative_error", on_the_line(TOL, TOL))
    assert transposed.recognise(got, got, TOL) == [("transposed",)]  # everything exactly at the line
    monkeypatch.setattr(module, "relative_error", on_the_line(1.01 * TOL, TOL))
    assert transposed.recognise(got, got, TOL) == []  # the transpose just beyond it
    monkeypatch.setattr(module, "relative_error", on_the_line(TOL, 1.01 * TOL))
    assert transposed.recognise(got, got, TOL) == []  # the rest just beyond it
    monkeypatch.setattr(module, "relative_error", lambda g, e: TOL)
    assert transposed.recognise(got, got, TOL) == []  # as close to the original as to the transpose: no transpose


def test_biases_summed_exactly_at_the_tolerance_are_named(monkeypatch):
    from handprop.grading.assignments import network as module

    a = network()
    case = square_case("backprop", dict(hidden="sigmoid", output="sigmoid", cost="quadratic"))
    bias_check = a.catalogue(case)[-1]
    summed = a.mistaken_values(case)[-1]
    got = gradients_dict(a, case, summed)
    sums = [b for b in summed[1]]

    def error(at_sum, at_expected):
        return lambda g, e: at_sum if any(e is s or np.array_equal(e, s) for s in sums) else at_expected

    expected = gradients_dict(a, case, case.expected)
    monkeypatch.setattr(module, "relative_error", error(TOL, 2 * TOL))
    assert bias_check.recognise(got, expected, TOL) == [("bias-not-reduced",)]
    monkeypatch.setattr(module, "relative_error", error(1.01 * TOL, 2 * TOL))
    assert bias_check.recognise(got, expected, TOL) == []
    monkeypatch.setattr(module, "relative_error", error(TOL, TOL))
    assert bias_check.recognise(got, expected, TOL) == []  # as close to the right biases: not this mistake


def test_a_transposed_output_exactly_at_the_tolerance_is_named(monkeypatch):
    from handprop.grading.assignments import network as module

    a = network()
    out = np.arange(9.0).reshape(3, 3) + 1
    case = Case("feedforward", 1, [[np.eye(3)], [np.zeros(3)], np.eye(3)], out, False, "")
    (mistake,) = a.catalogue(case)
    monkeypatch.setattr(module, "relative_error", lambda g, e: TOL)
    assert mistake.recognise({"a⁽ᴸ⁾": out}, {"a⁽ᴸ⁾": out}, TOL) == [("transposed",)]
    monkeypatch.setattr(module, "relative_error", lambda g, e: 1.01 * TOL)
    assert mistake.recognise({"a⁽ᴸ⁾": out}, {"a⁽ᴸ⁾": out}, TOL) == []
    wide = np.ones((3, 4))
    assert mistake.recognise({"a⁽ᴸ⁾": wide}, {"a⁽ᴸ⁾": wide}, TOL) == []  # not square: no transpose to see


# -- reading a returned value -------------------------------------------------------------------------


def test_the_arrays_are_named_for_each_function():
    a = network()
    suite = a.build_cases(seed=0, cases=1, hidden=0)
    assert list(a.tensors("sigmoid", suite["sigmoid"][0].expected)) == ["sigmoid(z)"]
    assert list(a.tensors("sigmoid_prime", suite["sigmoid_prime"][0].expected)) == ["sigmoid_prime(z)"]
    assert list(a.tensors("feedforward", suite["feedforward"][0].expected)) == ["a⁽ᴸ⁾"]
    assert list(a.tensors("backprop", suite["backprop"][0].expected)) == ["∂C/∂W1", "∂C/∂b1", "∂C/∂W2", "∂C/∂b2"]
    assert list(a.tensors("update_mini_batch", suite["update_mini_batch"][0].expected)) == ["new W1", "new b1", "new W2", "new b2"]


def test_a_value_that_cannot_be_read_says_which_part():
    a = network()
    backprop = a.build_cases(seed=0, cases=1, hidden=0)["backprop"][0]
    w, b = backprop.expected

    def message(function, value):
        with pytest.raises(ValueError) as info:
            a.tensors(function, value)
        return str(info.value)

    assert message("backprop", (w,)) == "backprop's result (two lists: weights, biases) must have 2 items, got 1"
    assert message("update_mini_batch", (w, b, b)) == "update_mini_batch's result (two lists: weights, biases) must have 2 items, got 3"
    assert message("backprop", (3, b)) == "the first item (the weights' list) must be a tuple or list, got int"
    assert message("backprop", (w, 3)) == "the second item (the biases' list) must be a tuple or list, got int"
    assert message("backprop", (w, b[:1])) == "expected as many bias arrays as weight arrays (one per layer), got 2 and 1"
    assert message("backprop", (["w", w[1]], b)) == "the weight array of layer 1 is a str, expected a NumPy array of numbers"
    assert message("backprop", (w, [b[0], "b"])) == "the bias array of layer 2 is a str, expected a NumPy array of numbers"
    assert message("sigmoid", "s") == "the returned value is a str, expected a NumPy array of numbers"
    assert message("relu", b[0]) == "'relu' is not a function of this assignment; expected one of sigmoid, sigmoid_prime, feedforward, backprop, update_mini_batch"


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "-".join(o.values()))
def test_the_template_is_the_one_for_these_options(options):
    from handprop.grading.assignments.network_template import render_template

    assert network(**options).template() == render_template(options["hidden"], options["output"], options["cost"])


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "-".join(o.values()))
def test_the_template_says_the_options_cost_and_output(options):
    """The starter file names the hidden activation, the output activation (with a helper to fill in
    only when it differs from the hidden one) and the cost with its per-example formula."""
    from handprop.grading.assignments.network_template import CE_PER_EXAMPLE, COST_TEXT, OUTPUT_TEXT

    h, out, cost = options["hidden"], options["output"], options["cost"]
    text = network(**options).template()
    assert COST_TEXT[cost].format(per_example=CE_PER_EXAMPLE[out]) in text
    per_example = {"quadratic": "0.5 * ||a_x - y_x||^2", "cross_entropy": f"C_x = {CE_PER_EXAMPLE[out]}"}[cost]
    assert per_example in text and "None" not in text and "XX" not in text
    assert f"the output layer uses\n  {OUTPUT_TEXT[out]}." in text
    helper = f'\n\n\ndef output_activation(z):\n    """The output layer\'s activation: {OUTPUT_TEXT[out]}.'
    if out == h:
        assert "output_activation" not in text
        assert f'raise NotImplementedError("{h}_prime")\n\n\ndef feedforward' in text
    else:
        assert text.count(helper) == 1
    functions = [f.name for f in ast.parse(text).body if isinstance(f, ast.FunctionDef)]
    assert functions == [h, f"{h}_prime", *(["output_activation"] if out != h else []), "feedforward", "backprop", "update_mini_batch"]


def test_a_transposed_square_layer_beside_right_ones_is_named_and_needs_the_biases_right():
    a = network()
    rng = np.random.default_rng(5)
    weights, biases = [rng.normal(size=(4, 4)), rng.normal(size=(3, 4))], [rng.normal(size=4), rng.normal(size=3)]  # W1 square, W2 not
    x, y = rng.uniform(size=(5, 4)), np.eye(3)[rng.integers(0, 3, 5)]
    nabla_w, nabla_b = Network.from_parameters(weights, biases, dtype="float64").backprop(x, y)
    case = Case("backprop", 1, [weights, biases, x, y], (nabla_w, nabla_b), False, "")
    (transposed, *_) = a.catalogue(case)
    expected = a.tensors("backprop", case.expected)

    def names(w, b):
        return transposed.recognise(a.tensors("backprop", (w, b)), expected, TOL)

    assert names([nabla_w[0].T.copy(), nabla_w[1]], nabla_b) == [("transposed",)]
    assert names([nabla_w[0].T.copy(), nabla_w[1]], [nabla_b[0] + 1, nabla_b[1]]) == []  # a bias wrong too
    assert names([nabla_w[0].T.copy(), nabla_w[1] + 1], nabla_b) == []  # the other layer wrong too
    assert judged(a, case, ([nabla_w[0].T.copy(), nabla_w[1]], nabla_b)).tags == ["transposed"]


def test_a_wrong_output_that_is_not_square_is_judged_without_a_transpose():
    a = network()
    case = a.build_cases(seed=0, cases=1, hidden=0)["feedforward"][0]  # layers 3-2-7, batch of 3: (3, 7)
    assert case.expected.shape[0] != case.expected.shape[1]
    verdict = judged(a, case, case.expected + 0.3)
    assert not verdict.passed and "transposed" not in verdict.tags

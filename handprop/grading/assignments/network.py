"""``network``: the book's network.py, vectorized: the activation, its derivative, feedforward,
backprop and one step of mini-batch SGD. Options: hidden sigmoid|tanh|relu, output
sigmoid|softmax, cost quadratic|cross_entropy. The reference is the engine's ``Network``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...activations import ACTIVATIONS
from ...network import Network
from ..cases import BATCH_SIZES, ELEMENTWISE_BATCH_SIZES, Case, layer_sizes, one_hot, random_parameters
from ..diagnose import TAGS, parts_candidates, relative_error, scaled_candidates
from ..variants import DERIVATIVE_MISTAKES, DERIVATIVE_TAGS, variant_backprop
from .base import Assignment, Mistake, as_array, as_sequence
from .network_template import render_template

Array = np.ndarray

OPTIONS: dict[str, tuple[str, ...]] = {  # the first choice of each is the default
    "hidden": ("sigmoid", "tanh", "relu"),
    "output": ("sigmoid", "softmax"),
    "cost": ("quadratic", "cross_entropy"),
}
GRADIENT_FUNCTIONS = ("backprop", "update_mini_batch")


class NetworkAssignment(Assignment):
    name = "network"
    template_name = "backprop_assignment.py"

    choices = OPTIONS

    def __init__(self, **options: str) -> None:
        super().__init__(**options)
        self.hidden, self.output, self.cost = (self.options[k] for k in ("hidden", "output", "cost"))
        h = self.hidden
        self.functions = (h, f"{h}_prime", "feedforward", "backprop", "update_mini_batch")
        self.points = {h: 1.0, f"{h}_prime": 1.0, "feedforward": 2.0, "backprop": 4.0, "update_mini_batch": 2.0}
        self.calls = {"update_mini_batch": ("backprop",), "backprop": (f"{h}_prime",), "feedforward": (h,)}

    # -- the student's side -----------------------------------------------------------------------

    def template(self) -> str:
        return render_template(self.hidden, self.output, self.cost)

    def arguments(self, function: str) -> tuple[str, ...]:
        return {
            "feedforward": ("weights", "biases", "x"),
            "backprop": ("weights", "biases", "x", "y"),
            "update_mini_batch": ("weights", "biases", "x", "y", "eta"),
        }.get(function, ("z",))

    # -- cases and the reference ------------------------------------------------------------------

    def _network(self, weights: list[Array], biases: list[Array]) -> Network:
        return Network.from_parameters(weights, biases, hidden=self.hidden, output=self.output, cost=self.cost, dtype="float64")

    def make_case(self, function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
        activation = ACTIVATIONS[self.hidden]
        if function in self.functions[:2]:
            n = ELEMENTWISE_BATCH_SIZES[k % len(ELEMENTWISE_BATCH_SIZES)]
            z = rng.normal(0.0, 3.0, size=(n, int(rng.integers(1, 8))))  # (n, units)
            a = activation(z)
            expected = a if function == self.hidden else activation.prime(z, a)
            return Case(function, k + 1, [z], expected, hidden, f"z of shape {z.shape}")
        n = BATCH_SIZES[k % len(BATCH_SIZES)]
        depth = 2 + k % 3  # 2 to 4 weight layers: at least one hidden layer, so BP2 is always exercised
        sizes = layer_sizes(rng, k, depth)
        weights, biases = random_parameters(rng, sizes)
        x = rng.uniform(0.0, 1.0, size=(n, sizes[0]))  # (n, in)
        net = self._network(weights, biases)
        description = f"layers {'-'.join(map(str, sizes))}, batch of {n}"
        if function == "feedforward":
            return Case(function, k + 1, [weights, biases, x], net.forward(x), hidden, description)
        y = one_hot(rng, n, sizes[-1])  # (n, out)
        nabla_w, nabla_b = net.backprop(x, y)
        if function == "backprop":
            return Case(function, k + 1, [weights, biases, x, y], (nabla_w, nabla_b), hidden, description)
        eta = float(rng.uniform(0.1, 3.0))
        new_w = [w - eta * nw for w, nw in zip(weights, nabla_w)]
        new_b = [b - eta * nb for b, nb in zip(biases, nabla_b)]
        return Case(function, k + 1, [weights, biases, x, y, eta], (new_w, new_b), hidden, f"{description}, eta = {eta:.3g}")

    # -- reading and judging a value ---------------------------------------------------------------

    def tensors(self, function: str, value: Any) -> dict[str, Array]:
        if function not in self.functions:
            raise ValueError(f"{function!r} is not a function of this assignment; expected one of {', '.join(self.functions)}")
        if function not in GRADIENT_FUNCTIONS:
            name = "a⁽ᴸ⁾" if function == "feedforward" else f"{function}(z)"
            return {name: as_array(value, "the returned value")}
        pair = as_sequence(value, 2, f"{function}'s result (two lists: weights, biases)")
        ws = as_sequence(pair[0], None, "the first item (the weights' list)")
        bs = as_sequence(pair[1], None, "the second item (the biases' list)")
        if len(ws) != len(bs):
            raise ValueError(f"expected as many bias arrays as weight arrays (one per layer), got {len(ws)} and {len(bs)}")
        prefix = "∂C/∂" if function == "backprop" else "new "
        out: dict[str, Array] = {}
        for l, (w, b) in enumerate(zip(ws, bs), start=1):
            out[f"{prefix}W{l}"] = as_array(w, f"the weight array of layer {l}")
            out[f"{prefix}b{l}"] = as_array(b, f"the bias array of layer {l}")
        return out

    def shape_tags(self, case: Case, name: str, got: tuple[int, ...], expected: tuple[int, ...]) -> tuple[str, ...]:
        stem = name.rstrip("0123456789")
        if len(got) == 2 and got == expected[::-1] and (stem.endswith("W") or case.function == "feedforward"):
            return ("transposed",)
        if case.function in GRADIENT_FUNCTIONS and stem.endswith("b"):
            n, out = case.args[2].shape[0], expected[0]
            if got == (n, out) or (got == (n,) and n != out):
                return ("bias-not-reduced", "wrong-shape") if n == 1 else ("bias-not-reduced",)
        return ("wrong-shape",)

    def mistakes(self, function: str) -> tuple[str, ...]:
        if function == self.functions[1]:
            return tuple(dict.fromkeys(DERIVATIVE_TAGS[kind] for kind in DERIVATIVE_MISTAKES[self.hidden] if kind != "none"))
        if function == "feedforward":
            return ("transposed",)
        if function not in GRADIENT_FUNCTIONS:
            return ()
        # (A transposed gradient is backprop's mistake: update_mini_batch then fails to broadcast.)
        found = ["missing-batch-mean", "double-batch-mean", "sign-flipped", "factor-2", "missing-activation-derivative",
                 "bias-not-reduced", "missing-target", "activation-instead-of-derivative"]  # fmt: skip
        if self.hidden != "relu" or (self.cost == "quadratic" and self.output == "sigmoid"):
            found.append("derivative-of-activation-not-preactivation")
        if self.cost == "cross_entropy":
            found.append("output-derivative-not-cancelled")
        if function == "backprop":
            found.append("transposed")
        return tuple(found)

    def sentences(self) -> dict[str, str]:
        s = dict(TAGS)
        if self.cost == "cross_entropy":
            s["factor-2"] = "Off by a factor of 2: with the cross-entropy cost the output error is δ = a − y, with no factor 2 (and no ½)."
            s["missing-activation-derivative"] = "σ′(z) is missing from δ in a hidden layer: δ = (δ_next W_next) ⊙ σ′(z) there (only at the output does it cancel)."
        elif self.output == "softmax":
            s["missing-activation-derivative"] = "The activation's derivative is missing from δ: at the softmax output δ = Jᵀ(a − y), with J the softmax Jacobian, and in hidden layers δ = (δ_next W_next) ⊙ σ′(z)."
        return s

    def catalogue(self, case: Case) -> list[Mistake]:
        def values(got: dict[str, Array], expected: dict[str, Array]) -> tuple[list[Array], list[Array]]:
            return list(got.values()), list(expected.values())

        function = case.function
        if function == self.functions[1]:
            from ..variants import prime

            z = case.args[0]
            a = ACTIVATIONS[self.hidden](z)
            mistakes = [Mistake([], lambda got, expected, tol: scaled_candidates(*values(got, expected), None, tol))]
            for kind in DERIVATIVE_MISTAKES[self.hidden]:
                if kind != "none":
                    wrong = prime(self.hidden, kind, z, a)
                    mistakes.append(Mistake(
                        [wrong],
                        lambda got, expected, tol, wrong=wrong, tag=DERIVATIVE_TAGS[kind]: scaled_candidates(list(got.values()), [wrong], None, tol, (tag,)),
                    ))
            return mistakes
        if function == "feedforward":

            def transposed_output(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
                (g,), (e,) = values(got, expected)
                return [("transposed",)] if g.shape[0] == g.shape[1] and relative_error(g, e.T) <= tol else []

            return [Mistake([case.expected.T] if case.expected.shape[0] == case.expected.shape[1] else [], transposed_output)]
        if function not in GRADIENT_FUNCTIONS:
            return [Mistake([], lambda got, expected, tol: scaled_candidates(*values(got, expected), None, tol, factor_2=False))]
        return self._gradient_catalogue(case)

    def _gradient_catalogue(self, case: Case) -> list[Mistake]:
        """backprop's and update_mini_batch's mistakes, all judged on the gradient: update_mini_batch's
        new = old − eta·∇ is read back as ∇ = (old − new) / eta."""
        weights, biases, x, y = case.args[:4]
        n, L = x.shape[0], len(weights)
        update = case.function == "update_mini_batch"
        eta = float(case.args[4]) if update else 1.0
        g_w, g_b = case.expected
        if update:
            g_w = [(w - nw) / eta for w, nw in zip(weights, g_w)]
            g_b = [(b - nb) / eta for b, nb in zip(biases, g_b)]

        def returned(v_w: list[Array], v_b: list[Array]) -> Any:
            """What the function returns when its gradient is (v_w, v_b)."""
            if not update:
                return (v_w, v_b)
            return ([w - eta * g for w, g in zip(weights, v_w)], [b - eta * g for b, g in zip(biases, v_b)])

        def gradients(got: dict[str, Array], expected: dict[str, Array]) -> tuple[list[Array], list[Array], list[Array], list[Array]]:
            """(got ∂C/∂W, got ∂C/∂b, expected ∂C/∂W, expected ∂C/∂b) from the judged arrays."""
            got_list, exp_list = list(got.values()), list(expected.values())
            got_w, got_b, e_w, e_b = got_list[0::2], got_list[1::2], exp_list[0::2], exp_list[1::2]
            if update:
                got_w, e_w = [(w - nw) / eta for w, nw in zip(weights, got_w)], [(w - nw) / eta for w, nw in zip(weights, e_w)]
                got_b, e_b = [(b - nb) / eta for b, nb in zip(biases, got_b)], [(b - nb) / eta for b, nb in zip(biases, e_b)]
            return got_w, got_b, e_w, e_b

        # Transposed weight gradients (square layers keep their shape, so compare values).
        def transposed(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            got_w, got_b, e_w, e_b = gradients(got, expected)
            flags = [g.shape[0] == g.shape[1] and relative_error(g, e.T) <= tol < relative_error(g, e) for g, e in zip(got_w, e_w)]
            if any(flags):
                rest_ok = all(t or relative_error(g, e) <= tol for t, g, e in zip(flags, got_w, e_w))
                if rest_ok and all(relative_error(g, e) <= tol for g, e in zip(got_b, e_b)):
                    return [("transposed",)]
            return []

        # One scale for everything, or one for the weights and another for the biases.
        def scales(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            got_w, got_b, e_w, e_b = gradients(got, expected)
            return parts_candidates([got_w, got_b], [e_w, e_b], n, tol)

        square = any(g.shape[0] == g.shape[1] for g in g_w)  # elsewhere the shape gives a transpose away
        mistakes = [
            Mistake([returned([g.T if g.shape[0] == g.shape[1] else g for g in g_w], g_b)] if square else [], transposed),
            Mistake([returned([s * g for g in g_w], [s * g for g in g_b]) for s in (n, 1 / n, -1.0, 2.0, 0.5)], scales),
        ]
        # The known wrong formulas, recomputed, with a scale mistake allowed on top.
        for kwargs, tag in self._variants(L):
            v_w, v_b, _ = variant_backprop(weights, biases, x, y, self.hidden, self.output, self.cost, **kwargs)

            def variant(got: dict[str, Array], expected: dict[str, Array], tol: float, v: list[Array] = v_w + v_b, tag: str = tag) -> list[tuple[str, ...]]:
                got_w, got_b, _, _ = gradients(got, expected)
                return scaled_candidates(got_w + got_b, v, n, tol, (tag,))

            mistakes.append(Mistake([returned(v_w, v_b)], variant))
        # Biases summed over the units instead of the examples (same shape only when n = out).
        _, _, deltas = variant_backprop(weights, biases, x, y, self.hidden, self.output, self.cost)

        def bias_not_reduced(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            _, got_b, _, e_b = gradients(got, expected)
            for g, d, e in zip(got_b, deltas, e_b):
                if d.shape[0] == d.shape[1] and relative_error(g, d.sum(axis=1)) <= tol < relative_error(g, e):
                    return [("bias-not-reduced",)]
            return []

        summed = any(d.shape[0] == d.shape[1] for d in deltas)  # summed over the units: (out,) only when n = out
        mistakes.append(Mistake(
            [returned(g_w, [d.sum(axis=1) if d.shape[0] == d.shape[1] else g for d, g in zip(deltas, g_b)])] if summed else [],
            bias_not_reduced,
        ))
        return mistakes

    def _variants(self, L: int) -> list[tuple[dict[str, str], str]]:
        """(variant_backprop arguments, tag) for every wrong formula that applies to these options."""
        out: list[tuple[dict[str, str], str]] = []
        elementwise_output = self.cost == "quadratic" and self.output == "sigmoid"
        places = ["hidden"] if L > 1 else []
        if self.cost == "quadratic":
            places = ["all", "output", *places]
        for where in places:
            kinds = set(DERIVATIVE_MISTAKES[self.hidden])
            if where != "hidden":
                kinds = {"none"} | (set(DERIVATIVE_MISTAKES["sigmoid"]) if elementwise_output else set())
                if where == "all":
                    kinds &= set(DERIVATIVE_MISTAKES[self.hidden])
            for kind in sorted(kinds):
                out.append(({"derivative": kind, "where": where}, DERIVATIVE_TAGS[kind]))
        out.append(({"output_error": "missing-target"}, "missing-target"))
        if self.cost == "cross_entropy":
            out.append(({"output_error": "not-cancelled"}, "output-derivative-not-cancelled"))
        return out

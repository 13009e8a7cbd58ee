"""``chain-rule``: one neuron per layer, as in 3Blue1Brown's calculus chapter.

    z⁽ˡ⁾ = w⁽ˡ⁾ a⁽ˡ⁻¹⁾ + b⁽ˡ⁾,   a⁽ˡ⁾ = σ(z⁽ˡ⁾),   a⁽⁰⁾ = x,   C₀ = (a⁽ᴸ⁾ − y)²  (no ½, as in the video)
    ∂C₀/∂w⁽ˡ⁾ = a⁽ˡ⁻¹⁾ σ′(z⁽ˡ⁾) ∂C₀/∂a⁽ˡ⁾,   ∂C₀/∂b⁽ˡ⁾ = σ′(z⁽ˡ⁾) ∂C₀/∂a⁽ˡ⁾,
    ∂C₀/∂a⁽ˡ⁻¹⁾ = w⁽ˡ⁾ σ′(z⁽ˡ⁾) ∂C₀/∂a⁽ˡ⁾,   ∂C₀/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y).

The reference is the engine's network of 1-unit layers; the video's C₀ is twice the engine's ½(a − y)².
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...network import Network
from ..cases import Case
from ..diagnose import TAGS, relative_error, scaled_candidates
from ..variants import prime
from .base import Assignment, Mistake, as_array, as_sequence

Array = np.ndarray

GRADIENT_NAMES = ("∂C₀/∂w", "∂C₀/∂b", "∂C₀/∂a")

TEMPLATE = '''"""The chain rule, term by term: a network with one neuron per layer (3Blue1Brown, chapter 4).

Fill in the two functions below with NumPy. Do not change their names or signatures.

Conventions:
- There are L layers after the input, numbered 1 ... L. w and b are 1-D arrays of length L:
  w[l-1] and b[l-1] belong to layer l.
- z(l) = w(l) * a(l-1) + b(l),   a(l) = sigmoid(z(l)),   a(0) = x (a float).
- The cost of this one training example is the video's  C0 = (a(L) - y)**2   (no 1/2).
- Do not modify the arrays you are given; return new ones.

You may define helper functions and import numpy. Do not print or write files: only the returned
values are graded.
"""

import numpy as np


def chain_forward(w, b, x):
    """The activations of every layer, input included.

    w, b: 1-D arrays of length L.   x: the input, a float.
    Returns a 1-D array of length L + 1: a(0) = x, a(1), ..., a(L).
    """
    raise NotImplementedError("chain_forward")


def chain_gradients(w, b, x, y):
    """The derivatives of C0 = (a(L) - y)**2, by the chain rule.

    w, b: 1-D arrays of length L.   x: the input, y: the target (floats).
    Returns (dC0_dw, dC0_db, dC0_da): 1-D arrays of lengths L, L and L + 1, where
    dC0_dw[l-1] = dC0/dw(l), dC0_db[l-1] = dC0/db(l) and dC0_da[l] = dC0/da(l) for l = 0 ... L.
    """
    raise NotImplementedError("chain_gradients")
'''


def chain_variant(w: Array, b: Array, x: float, y: float, derivative: str = "z") -> tuple[Array, Array, Array]:
    """The chain rule with σ′ written as ``derivative`` (see variants.DERIVATIVES); "z" is correct."""
    L = len(w)
    zs, a = np.zeros(L), np.zeros(L + 1)
    a[0] = x
    for l in range(L):
        zs[l] = w[l] * a[l] + b[l]
        a[l + 1] = 1 / (1 + np.exp(-zs[l]))
    dw, db, da = np.zeros(L), np.zeros(L), np.zeros(L + 1)
    da[L] = 2 * (a[L] - y)
    for l in range(L - 1, -1, -1):
        dz = da[l + 1] * prime("sigmoid", derivative, zs[l : l + 1], a[l + 1 : l + 2])[0]
        dw[l], db[l], da[l] = dz * a[l], dz, dz * w[l]
    return dw, db, da


class ChainRuleAssignment(Assignment):
    name = "chain-rule"
    template_name = "chain_rule_assignment.py"
    functions = ("chain_forward", "chain_gradients")
    points = {"chain_forward": 1.0, "chain_gradients": 3.0}
    calls = {"chain_gradients": ("chain_forward",)}

    def template(self) -> str:
        return TEMPLATE

    def arguments(self, function: str) -> tuple[str, ...]:
        return ("w", "b", "x") if function == "chain_forward" else ("w", "b", "x", "y")

    def make_case(self, function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
        L = 2 + k % 3  # 2 to 4 layers: at least one hidden neuron, so the chain has a middle link
        w = rng.normal(0.0, 1.5, size=L)  # (L,)
        b = rng.normal(0.0, 1.0, size=L)  # (L,)
        x, y = float(rng.uniform(-1.0, 1.0)), float(rng.uniform(0.0, 1.0))
        net = Network.from_parameters([np.array([[v]]) for v in w], [np.array([v]) for v in b], hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")
        description = f"L = {L}, x = {x:.3g}"
        if function == "chain_forward":
            activations = net.feedforward(np.array([[x]])).activations  # each (1, 1)
            return Case(function, k + 1, [w, b, x], np.concatenate([a.ravel() for a in activations]), hidden, description)
        grads = net.gradients(np.array([[x]]), np.array([[y]]))
        # The video's C₀ = (a − y)² is twice the engine's ½(a − y)²: every derivative doubles.
        dw = 2 * np.concatenate([g.ravel() for g in grads.nabla_w])  # (L,)
        db = 2 * np.concatenate([g.ravel() for g in grads.nabla_b])  # (L,)
        da = 2 * np.concatenate([g.ravel() for g in grads.nabla_a])  # (L + 1,)
        return Case(function, k + 1, [w, b, x, y], (dw, db, da), hidden, f"{description}, y = {y:.3g}")

    def tensors(self, function: str, value: Any) -> dict[str, Array]:
        if function == "chain_forward":
            return {"a": as_array(value, "the returned activations")}
        if function != "chain_gradients":
            raise ValueError(f"{function!r} is not a function of this assignment; expected one of {', '.join(self.functions)}")
        parts = as_sequence(value, 3, "chain_gradients' result (dC0_dw, dC0_db, dC0_da)")
        return {name: as_array(part, name) for name, part in zip(GRADIENT_NAMES, parts)}

    def mistakes(self, function: str) -> tuple[str, ...]:
        if function == "chain_forward":
            return ("reversed-order",)
        return ("sign-flipped", "factor-2", "missing-activation-derivative", "derivative-of-activation-not-preactivation", "reversed-order")

    def sentences(self) -> dict[str, str]:
        s = dict(TAGS)
        s["factor-2"] = "Off by a factor of 2: the video's cost C₀ = (a⁽ᴸ⁾ − y)² has no ½, so ∂C₀/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y)."
        s["sign-flipped"] = "The sign is flipped: ∂C₀/∂a⁽ᴸ⁾ = 2(a⁽ᴸ⁾ − y), not 2(y − a⁽ᴸ⁾)."
        s["missing-activation-derivative"] = "σ′(z⁽ˡ⁾) is missing from a link of the chain: ∂C₀/∂w⁽ˡ⁾ = a⁽ˡ⁻¹⁾ σ′(z⁽ˡ⁾) ∂C₀/∂a⁽ˡ⁾."
        return s

    def catalogue(self, case: Case) -> list[Mistake]:
        def values(got: dict[str, Array], expected: dict[str, Array]) -> tuple[list[Array], list[Array]]:
            return list(got.values()), list(expected.values())

        def reversed_order(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            g, e = values(got, expected)
            return [("reversed-order",)] if all(relative_error(a[::-1], r) <= tol for a, r in zip(g, e)) else []

        if case.function == "chain_forward":
            return [Mistake([case.expected[::-1]], reversed_order)]
        mistakes = [
            Mistake([tuple(part[::-1] for part in case.expected)], reversed_order),
            Mistake(
                [tuple(s * part for part in case.expected) for s in (-1.0, 2.0, 0.5)],
                lambda got, expected, tol: scaled_candidates(*values(got, expected), None, tol),
            ),
        ]
        w, b, x, y = case.args
        for kind in ("none", "a", "formula-on-z"):
            tag = "missing-activation-derivative" if kind == "none" else "derivative-of-activation-not-preactivation"
            variant = chain_variant(w, b, x, y, kind)
            mistakes.append(Mistake(
                [variant],
                lambda got, expected, tol, variant=variant, tag=tag: scaled_candidates(list(got.values()), list(variant), None, tol, (tag,)),
            ))
        return mistakes

"""Backprop written with a known mistake, to recognise a student's answer by recomputing it.

These are deliberately wrong references. They exist only to answer "does the student's result
equal what formula X gives?": the correct gradient always comes from the engine (``cases.py``).
"""

from __future__ import annotations

import numpy as np

from ..activations import sigmoid

Array = np.ndarray

# How σ′ is evaluated in δ: "z" is correct, σ(z)(1 − σ(z)).
DERIVATIVES = ("z", "none", "a", "z(1-z)")
# Which layers get the variant derivative: the output's δ^L (BP1), the hidden δ^ℓ (BP2), or both.
WHERE = ("all", "output", "hidden")


def _prime(kind: str, z: Array, a: Array) -> Array:
    """σ′ as a student might have written it."""
    if kind == "z":
        return a * (1 - a)  # σ′(z) = σ(z)(1 − σ(z)) = a(1 − a): correct
    if kind == "none":
        return np.ones_like(z)  # σ′ left out
    if kind == "a":
        s = sigmoid(a)
        return s * (1 - s)  # σ′(a): the derivative evaluated at the activation
    if kind == "z(1-z)":
        return z * (1 - z)  # the a(1 − a) formula applied to z
    raise ValueError(f"unknown derivative variant {kind!r}; expected one of {DERIVATIVES}")


def variant_backprop(
    weights: list[Array], biases: list[Array], x: Array, y: Array, derivative: str = "z", where: str = "all"
) -> tuple[list[Array], list[Array], list[Array]]:
    """(nabla_w, nabla_b, delta) of the batch-mean quadratic cost with σ′ replaced in ``where``.

    δ^L = (a^L − y) ⊙ σ′(z^L) / n  (BP1),  δ^ℓ = (δ^(ℓ+1) W^(ℓ+1)) ⊙ σ′(z^ℓ)  (BP2),
    ∂C/∂b^ℓ = Σ_x δ^ℓ_x  (BP3),  ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ−1)  (BP4).
    """
    if where not in WHERE:
        raise ValueError(f"unknown place {where!r}; expected one of {WHERE}")
    n = x.shape[0]
    zs, activations = [], [x]
    for w, b in zip(weights, biases):
        zs.append(activations[-1] @ w.T + b)  # (n, out)
        activations.append(sigmoid(zs[-1]))  # (n, out)
    L = len(weights)
    deltas: list[Array] = [np.empty(0)] * L

    def prime(l: int) -> Array:
        is_output = l == L - 1
        use_variant = where == "all" or (where == "output") == is_output
        return _prime(derivative if use_variant else "z", zs[l], activations[l + 1])

    deltas[-1] = (activations[-1] - y) * prime(L - 1) / n  # (n, out_L)
    for l in range(L - 2, -1, -1):
        deltas[l] = (deltas[l + 1] @ weights[l + 1]) * prime(l)  # (n, out_l)
    nabla_w = [d.T @ a for d, a in zip(deltas, activations)]  # (out, in)
    nabla_b = [d.sum(axis=0) for d in deltas]  # (out,)
    return nabla_w, nabla_b, deltas

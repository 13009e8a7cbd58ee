"""Backprop written with a known mistake, to recognise a student's answer by recomputing it.

These are deliberately wrong references. They exist only to answer "does the student's result
equal what formula X gives?": the correct gradient always comes from the engine (the assignments'
``build_cases``).
"""

from __future__ import annotations

import numpy as np

from ..activations import ACTIVATIONS, softmax_backward

Array = np.ndarray

# How σ′ is evaluated in δ: "z" is correct; "none" leaves it out; "a" evaluates σ′ at the
# activation a = σ(z); "formula-on-z" applies the formula written with a (a(1 − a), 1 − a²) to z;
# "activation" uses the activation σ(z) itself where its derivative belongs.
DERIVATIVES = ("z", "none", "a", "formula-on-z", "activation")
# The wrong derivatives that differ from the right one, per activation (for ReLU, σ′(a) = σ′(z)).
DERIVATIVE_MISTAKES: dict[str, tuple[str, ...]] = {
    "sigmoid": ("none", "a", "formula-on-z", "activation"),
    "tanh": ("none", "a", "formula-on-z", "activation"),
    "relu": ("none", "activation"),
}
# The mistake tag (diagnose.TAGS) of each wrong derivative.
DERIVATIVE_TAGS: dict[str, str] = {
    "none": "missing-activation-derivative",
    "a": "derivative-of-activation-not-preactivation",
    "formula-on-z": "derivative-of-activation-not-preactivation",
    "activation": "activation-instead-of-derivative",
}
# Which layers get the variant derivative: the output's δ^L (BP1), the hidden δ^ℓ (BP2), or both.
WHERE = ("all", "output", "hidden")
# The output error δ^L: correct; without the target (a instead of a − y); with σ′ not cancelled
# against the cross-entropy (δ^L = (a − y) ⊙ a(1 − a)).
OUTPUT_ERRORS = ("correct", "missing-target", "not-cancelled")


def prime(name: str, kind: str, z: Array, a: Array) -> Array:
    """σ′ of activation ``name`` as a student might have written it (``kind`` from DERIVATIVES)."""
    activation = ACTIVATIONS[name]
    if kind == "z":
        return activation.prime(z, a)
    if kind == "none":
        return np.ones_like(z)
    if kind == "a":
        return activation.prime(a, activation(a))  # σ′ evaluated at the activation
    if kind == "formula-on-z":
        return activation.prime(z, z)  # a(1 − a), 1 − a², … with z in place of a
    if kind == "activation":
        return activation(z)  # σ(z) where σ′(z) belongs (for ReLU, max(z, 0) instead of the step)
    raise ValueError(f"unknown derivative variant {kind!r}; expected one of {DERIVATIVES}")


def variant_backprop(
    weights: list[Array],
    biases: list[Array],
    x: Array,
    y: Array,
    hidden: str = "sigmoid",
    output: str = "sigmoid",
    cost: str = "quadratic",
    derivative: str = "z",
    where: str = "all",
    output_error: str = "correct",
) -> tuple[list[Array], list[Array], list[Array]]:
    """(nabla_w, nabla_b, delta) of the batch-mean cost with the named mistake.

    δ^L = ∂C_x/∂z^L / n  (BP1),  δ^ℓ = (δ^(ℓ+1) W^(ℓ+1)) ⊙ σ′(z^ℓ)  (BP2),
    ∂C/∂b^ℓ = Σ_x δ^ℓ_x  (BP3),  ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ−1)  (BP4).
    With every argument at its default this is the correct gradient.
    """
    if where not in WHERE:
        raise ValueError(f"unknown place {where!r}; expected one of {WHERE}")
    if output_error not in OUTPUT_ERRORS:
        raise ValueError(f"unknown output error {output_error!r}; expected one of {OUTPUT_ERRORS}")
    n, L = x.shape[0], len(weights)
    zs, activations = [], [x]
    for l, (w, b) in enumerate(zip(weights, biases)):
        zs.append(activations[-1] @ w.T + b)  # (n, out)
        activations.append(ACTIVATIONS[output if l == L - 1 else hidden](zs[-1]))  # (n, out)
    at_output = where in ("all", "output")
    at_hidden = where in ("all", "hidden")
    z_L, a_L = zs[-1], activations[-1]
    error = a_L if output_error == "missing-target" else a_L - y  # (n, out)
    if cost == "cross_entropy":
        delta_L = error  # σ′ cancels against the cost's denominator: δ^L = a − y
        if output_error == "not-cancelled":
            delta_L = error * a_L * (1 - a_L)
    elif output == "softmax":
        delta_L = error if (at_output and derivative == "none") else softmax_backward(error, z_L, a_L)
    else:
        delta_L = error * prime(output, derivative if at_output else "z", z_L, a_L)
    deltas: list[Array] = [np.empty(0)] * L
    deltas[-1] = delta_L / n  # (n, out_L)
    for l in range(L - 2, -1, -1):
        kind = derivative if at_hidden else "z"
        deltas[l] = (deltas[l + 1] @ weights[l + 1]) * prime(hidden, kind, zs[l], activations[l + 1])  # (n, out_l)
    nabla_w = [d.T @ a for d, a in zip(deltas, activations)]  # (out, in)
    nabla_b = [d.sum(axis=0) for d in deltas]  # (out,)
    return nabla_w, nabla_b, deltas

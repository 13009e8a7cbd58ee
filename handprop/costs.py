"""Cost functions: the per-example cost C_x, its mean C over the batch, and their derivatives.

Every cost the network reports is the **mean over the batch**: C = (1/n) Σ_x C_x. The functions in
this module work per example (one row per example) and the network divides by n once, at the output
error δ^L, so the gradients it returns are those of the mean.

- ``quadratic``: C_x = ½‖a − y‖², as in Nielsen's book. 3Blue1Brown's video writes the cost of one
  example as C₀ = Σ_j (a_j − y_j)² with no ½: every gradient of that cost is exactly twice ours.
- ``cross_entropy``:
  - with a softmax output, the categorical cross-entropy C_x = −Σ_j y_j log a_j;
  - with a sigmoid output, the binary cross-entropy summed over the outputs,
    C_x = −Σ_j [y_j log a_j + (1 − y_j) log(1 − a_j)].
  Both are evaluated from the pre-activation z (log-softmax, softplus), never as log of a rounded
  probability, so a saturated output gives a large finite cost instead of inf or NaN.

Each cost has ``per_example`` (C_x for each row), ``grad_a`` (∂C_x/∂a, one row per example) and
``delta`` (∂C_x/∂z: the output error δ^L of BP1 before the 1/n of the mean). Where the cost and the
output activation cancel (cross-entropy after softmax or sigmoid) ``delta`` uses the fused form
a − y, which is both cheaper and exact when σ' underflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .activations import Activation, log_softmax

Array = np.ndarray


def _softplus(z: Array) -> Array:
    """log(1 + e^z), without overflow: logaddexp(0, z)."""
    return np.logaddexp(0, z)


# ---------------------------------------------------------------------------------------------
# quadratic


def quadratic_per_example(z: Array, a: Array, y: Array, activation: Activation) -> Array:
    """C_x = ½ Σ_j (a_j − y_j)², one value per example: shape (n,)."""
    return 0.5 * ((a - y) ** 2).sum(axis=1)


def quadratic_grad_a(a: Array, y: Array, activation: Activation) -> Array:
    """∂C_x/∂a = a − y."""
    return a - y


def quadratic_delta(z: Array, a: Array, y: Array, activation: Activation) -> Array:
    """δ^L_x = ∂C_x/∂z = (a − y) ⊙ σ'(z)   (BP1; for softmax, the Jacobian product instead)."""
    return activation.backward(a - y, z, a)


# ---------------------------------------------------------------------------------------------
# cross-entropy


def cross_entropy_per_example(z: Array, a: Array, y: Array, activation: Activation) -> Array:
    """C_x from the pre-activation z, shape (n,).

    softmax: C_x = −Σ_j y_j log softmax(z)_j.
    sigmoid: C_x = Σ_j [softplus(z_j) − y_j z_j], the same as −Σ_j [y_j log a_j + (1−y_j) log(1−a_j)]
    because log σ(z) = −softplus(−z) and log(1 − σ(z)) = −softplus(z).
    """
    if activation.name == "softmax":
        return -(y * log_softmax(z)).sum(axis=1)
    return (_softplus(z) - y * z).sum(axis=1)


def cross_entropy_grad_a(a: Array, y: Array, activation: Activation) -> Array:
    """∂C_x/∂a: −y/a for softmax, (a − y) / (a(1 − a)) for sigmoid.

    Only used to show the output's "desired change"; backprop uses the fused δ. A probability that
    rounded to exactly 0 or 1 is clipped to the smallest positive number of the dtype, so the
    result is a huge finite number rather than a division by zero.
    """
    tiny = np.finfo(a.dtype).tiny
    if activation.name == "softmax":
        return -y / np.maximum(a, tiny)
    return (a - y) / np.maximum(a * (1 - a), tiny)


def cross_entropy_delta(z: Array, a: Array, y: Array, activation: Activation) -> Array:
    """δ^L_x = ∂C_x/∂z, fused with the output activation.

    sigmoid: δ_j = a_j − y_j (σ' cancels against the cost's denominator).
    softmax: δ_j = a_j Σ_k y_k − y_j, which is a − y for targets that sum to one (one-hot rows).
    """
    if activation.name == "softmax":
        return a * y.sum(axis=1, keepdims=True) - y
    return a - y


@dataclass(frozen=True)
class Cost:
    """A cost: per-example value and its derivatives (see the module docstring)."""

    name: str
    per_example: Callable[[Array, Array, Array, Activation], Array]
    grad_a: Callable[[Array, Array, Activation], Array]
    delta: Callable[[Array, Array, Array, Activation], Array]
    # output activations this cost is defined for; None means any
    outputs: Optional[tuple[str, ...]] = None

    def value(self, z: Array, a: Array, y: Array, activation: Activation) -> float:
        """C = (1/n) Σ_x C_x: the mean over the batch, as a Python float."""
        per_example = self.per_example(z, a, y, activation)  # (n,)
        return float(per_example.sum()) / per_example.shape[0]  # sum/n: ndarray.mean costs µs per call


COSTS: dict[str, Cost] = {
    "quadratic": Cost("quadratic", quadratic_per_example, quadratic_grad_a, quadratic_delta),
    "cross_entropy": Cost(
        "cross_entropy",
        cross_entropy_per_example,
        cross_entropy_grad_a,
        cross_entropy_delta,
        outputs=("softmax", "sigmoid"),
    ),
}


def get_cost(name: str, output: str) -> Cost:
    """Look a cost up by name and check that it fits the output activation."""
    if not isinstance(name, str):
        raise TypeError(f"cost must be given by name (a str), got {type(name).__name__}")
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; expected one of: {', '.join(COSTS)}")
    cost = COSTS[name]
    if cost.outputs is not None and output not in cost.outputs:
        raise ValueError(
            f"cost {name!r} needs an output activation producing probabilities "
            f"({' or '.join(cost.outputs)}), got output={output!r}"
        )
    return cost

"""Activation functions σ and their derivatives, written out by hand.

Each activation maps pre-activations ``z`` to activations ``a = σ(z)`` and knows how to carry a
gradient back through itself: given ∂C/∂a it returns ∂C/∂z. For the element-wise activations that is
the product ∂C/∂a ⊙ σ'(z) of the book's equation BP2; softmax couples the outputs of one example, so
its backward is the vector–Jacobian product written out below.

Derivatives are computed from the forward pass's cached ``z`` and ``a`` (σ'(z) = a(1 − a) for the
sigmoid, 1 − a² for tanh): nothing is recomputed from scratch.

All functions take batch-first arrays ``(n, units)`` and keep their dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), the textbook form, exact to rounding for every z.

    For z below about −709 (−88 in float32) e^(−z) overflows to inf, and 1 / (1 + inf) = 0 is
    exactly the right limit, so that overflow is expected: it is silenced here, locally, rather
    than dodged with extra branches. No NaN can arise for finite z.
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-z))  # (n, units), keeps z's dtype


def sigmoid_prime(z: Array, a: Array) -> Array:
    """σ'(z) = σ(z)(1 − σ(z)) = a(1 − a), read from the cached activation."""
    return a * (1 - a)


def tanh(z: Array) -> Array:
    """tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z)); NumPy's tanh is stable for any z."""
    return np.tanh(z)


def tanh_prime(z: Array, a: Array) -> Array:
    """tanh'(z) = 1 − tanh²(z) = 1 − a²."""
    return 1 - a * a


def relu(z: Array) -> Array:
    """ReLU(z) = max(z, 0)."""
    return np.maximum(z, 0)


def relu_prime(z: Array, a: Array) -> Array:
    """ReLU'(z) = 1 for z > 0, else 0.

    At z = 0 exactly the derivative is undefined; like PyTorch we use 0 there.
    """
    return (z > 0).astype(z.dtype)


def identity(z: Array) -> Array:
    """identity(z) = z (a linear layer)."""
    return z


def identity_prime(z: Array, a: Array) -> Array:
    """identity'(z) = 1."""
    return np.ones_like(z)


def softmax(z: Array) -> Array:
    """softmax(z)_j = e^(z_j) / Σ_k e^(z_k), per row (example).

    Subtracting the row maximum first leaves the value unchanged and keeps every exponent ≤ 0, so
    logits of 1e4 do not overflow.
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))  # (n, out), every entry in (0, 1]
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: Array) -> Array:
    """log softmax(z)_j = z_j − max(z) − log Σ_k e^(z_k − max(z)), per row; finite for any finite z."""
    shifted = z - z.max(axis=1, keepdims=True)  # (n, out)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_backward(grad_a: Array, z: Array, a: Array) -> Array:
    """∂C/∂z for a = softmax(z): the vector–Jacobian product with ∂a_j/∂z_k = a_j(δ_jk − a_k).

    ∂C/∂z_k = Σ_j ∂C/∂a_j · a_j(δ_jk − a_k) = a_k (∂C/∂a_k − Σ_j ∂C/∂a_j a_j).
    """
    return a * (grad_a - (grad_a * a).sum(axis=1, keepdims=True))  # (n, out)


@dataclass(frozen=True)
class Activation:
    """One activation: its forward σ, and its backward ∂C/∂a ↦ ∂C/∂z.

    ``prime`` is σ'(z) (from the cached z and a) for the element-wise activations and ``None`` for
    softmax, whose derivative is a Jacobian rather than a number per unit.
    """

    name: str
    forward: Callable[[Array], Array]
    prime: Optional[Callable[[Array, Array], Array]]
    vjp: Optional[Callable[[Array, Array, Array], Array]] = None

    def __call__(self, z: Array) -> Array:
        return self.forward(z)

    def backward(self, grad_a: Array, z: Array, a: Array) -> Array:
        """∂C/∂z from ∂C/∂a (BP2's ⊙ σ'(z) for the element-wise activations)."""
        if self.prime is not None:
            return grad_a * self.prime(z, a)
        return self.vjp(grad_a, z, a)  # type: ignore[misc]


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime),
    "tanh": Activation("tanh", tanh, tanh_prime),
    "relu": Activation("relu", relu, relu_prime),
    "identity": Activation("identity", identity, identity_prime),
    "softmax": Activation("softmax", softmax, None, softmax_backward),
}

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
OUTPUT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity", "softmax")


def get_activation(name: str, *, output: bool = False) -> Activation:
    """Look an activation up by name; softmax is allowed only for the output layer."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be given by name (a str), got {type(name).__name__}")
    allowed = OUTPUT_ACTIVATIONS if output else HIDDEN_ACTIVATIONS
    if name not in allowed:
        where = "output" if output else "hidden"
        hint = " (softmax is only for the output layer)" if name == "softmax" else ""
        raise ValueError(
            f"unknown {where} activation {name!r}{hint}; expected one of: {', '.join(allowed)}"
        )
    return ACTIVATIONS[name]

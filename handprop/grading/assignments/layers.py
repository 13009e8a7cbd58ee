"""``layers``: backpropagation in the modular form that courses such as CS231n use, one layer's
forward or backward at a time.

    linear_forward(x, W, b) = z = x Wᵀ + b                         (n, out)
    linear_backward(dz, x, W) = (dx, dW, db) = (dz W, dzᵀ x, Σ_x dz)  dz = ∂C/∂z already holds the 1/n
    sigmoid_backward(da, z), relu_backward(da, z), tanh_backward(da, z) = da ⊙ σ′(z)
    softmax_cross_entropy(z, y) = (C, dz): C = (1/n) Σ_x −Σ_j y_j log softmax(z)_j, dz = (softmax(z) − y)/n

Every reference comes from the engine: the network's forward pass and BP3/BP4, the activations'
backward, the cross-entropy cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...activations import ACTIVATIONS
from ...costs import COSTS
from ...network import Network
from ..cases import BATCH_SIZES, ELEMENTWISE_BATCH_SIZES, Case, layer_sizes, one_hot, random_parameters
from ..diagnose import TAGS, parts_candidates, relative_error, scaled_candidates
from ..variants import DERIVATIVE_MISTAKES, DERIVATIVE_TAGS, prime
from .base import Assignment, Mistake, as_array, as_sequence

Array = np.ndarray

BACKWARDS = {"sigmoid_backward": "sigmoid", "relu_backward": "relu", "tanh_backward": "tanh"}

TEMPLATE = '''"""Backpropagation, one layer at a time (the modular form of CS231n-style courses).

Fill in the functions below with NumPy. Do not change their names or signatures.

Conventions:
- Arrays are batch-first: one row per example. x has shape (n, in); W has shape (out, in) and
  b has shape (out,), so a linear layer computes z = x @ W.T + b with shape (n, out).
- Each *_backward function receives the gradient of the cost C with respect to the layer's output
  (already including the 1/n of the batch mean) and returns the gradient with respect to its inputs.
- The cost is the MEAN over the batch of the cross-entropy of the softmax of each row:
      C = (1/n) * sum_x  -sum_j y_j log softmax(z_x)_j
- Do not modify the arrays you are given; return new ones.

You may define helper functions and import numpy. Do not print or write files: only the returned
values are graded.
"""

import numpy as np


def linear_forward(x, W, b):
    """z = x W^T + b.   x: (n, in), W: (out, in), b: (out,). Returns z, shape (n, out)."""
    raise NotImplementedError("linear_forward")


def linear_backward(dz, x, W):
    """The gradients of C through a linear layer, given dz = dC/dz of shape (n, out).

    x: the layer's input (n, in), W: its weights (out, in).
    Returns (dx, dW, db) with shapes (n, in), (out, in) and (out,).
    """
    raise NotImplementedError("linear_backward")


def sigmoid_backward(da, z):
    """dC/dz for a = sigmoid(z), given da = dC/da. da, z: same shape. Returns dz, same shape."""
    raise NotImplementedError("sigmoid_backward")


def relu_backward(da, z):
    """dC/dz for a = max(z, 0), given da = dC/da (use 0 as the derivative at z = 0 exactly)."""
    raise NotImplementedError("relu_backward")


def tanh_backward(da, z):
    """dC/dz for a = tanh(z), given da = dC/da. Returns dz, same shape as z."""
    raise NotImplementedError("tanh_backward")


def softmax_cross_entropy(z, y):
    """The batch-mean cross-entropy of softmax(z) and its gradient.

    z: scores, shape (n, classes).   y: one-hot targets, shape (n, classes).
    Returns (C, dz): C a float, the MEAN over the batch; dz = dC/dz, shape (n, classes).
    """
    raise NotImplementedError("softmax_cross_entropy")
'''


class LayersAssignment(Assignment):
    name = "layers"
    template_name = "layers_assignment.py"
    functions = ("linear_forward", "linear_backward", "sigmoid_backward", "relu_backward", "tanh_backward", "softmax_cross_entropy")
    points = {"linear_forward": 1.0, "linear_backward": 3.0, "sigmoid_backward": 1.0, "relu_backward": 1.0, "tanh_backward": 1.0, "softmax_cross_entropy": 3.0}
    calls: dict[str, tuple[str, ...]] = {}

    def template(self) -> str:
        return TEMPLATE

    def arguments(self, function: str) -> tuple[str, ...]:
        return {
            "linear_forward": ("x", "W", "b"),
            "linear_backward": ("dz", "x", "W"),
            "softmax_cross_entropy": ("z", "y"),
        }.get(function, ("da", "z"))

    def make_case(self, function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
        number = k + 1
        if function in BACKWARDS:
            activation = ACTIVATIONS[BACKWARDS[function]]
            n = ELEMENTWISE_BATCH_SIZES[k % len(ELEMENTWISE_BATCH_SIZES)]
            z = rng.normal(0.0, 3.0, size=(n, int(rng.integers(1, 8))))  # (n, units)
            da = rng.normal(0.0, 1.0, size=z.shape)  # (n, units)
            dz = activation.backward(da, z, activation(z))  # (n, units)
            return Case(function, number, [da, z], dz, hidden, f"z of shape {z.shape}")
        n = BATCH_SIZES[k % len(BATCH_SIZES)]  # n ≥ 3: a sum over the batch cannot hide
        if function == "softmax_cross_entropy":
            classes = int(rng.integers(2, 8))
            z = rng.normal(0.0, 2.0, size=(n, classes))  # (n, classes)
            y = one_hot(rng, n, classes)  # (n, classes)
            softmax, cost = ACTIVATIONS["softmax"], COSTS["cross_entropy"]
            a = softmax(z)
            value = cost.value(z, a, y, softmax)  # the mean over the batch
            dz = cost.delta(z, a, y, softmax) / n  # (n, classes)
            return Case(function, number, [z, y], (value, dz), hidden, f"z of shape {z.shape}")
        inp, out = layer_sizes(rng, k, 1)
        (W,), (b,) = random_parameters(rng, [inp, out])
        x = rng.normal(0.0, 1.0, size=(n, inp))  # (n, in)
        net = Network.from_parameters([W], [b], output="identity", dtype="float64")
        description = f"x of shape {x.shape}, W of shape {W.shape}"
        if function == "linear_forward":
            return Case(function, number, [x, W, b], net.forward(x), hidden, description)
        dz = rng.normal(0.0, 1.0, size=(n, out)) / n  # (n, out): a batch-mean gradient
        (dW,), (db,) = Network._parameter_gradients([dz], [x])  # BP4, BP3
        dx = dz @ W  # ∂C/∂x = dz W, as the engine's ∂C/∂a⁰, (n, in)
        return Case(function, number, [dz, x, W], (dx, dW, db), hidden, description)

    def tensors(self, function: str, value: Any) -> dict[str, Array]:
        if function in BACKWARDS:
            return {"dz": as_array(value, "the returned dz")}
        if function == "linear_forward":
            return {"z": as_array(value, "the returned z")}
        if function == "linear_backward":
            parts = as_sequence(value, 3, "linear_backward's result (dx, dW, db)")
            return {name: as_array(p, name) for name, p in zip(("dx", "dW", "db"), parts)}
        if function == "softmax_cross_entropy":
            parts = as_sequence(value, 2, "softmax_cross_entropy's result (C, dz)")
            cost = as_array(parts[0], "the cost C")
            if cost.size != 1:
                raise ValueError(f"the cost C must be one number (the batch mean), got an array of shape {cost.shape}")
            return {"C": cost.reshape(()), "dz": as_array(parts[1], "dz")}
        raise ValueError(f"{function!r} is not a function of this assignment; expected one of {', '.join(self.functions)}")

    def shape_tags(self, case: Case, name: str, got: tuple[int, ...], expected: tuple[int, ...]) -> tuple[str, ...]:
        if len(got) == 2 and got == expected[::-1] and name in ("z", "dW"):
            return ("transposed",)
        if name == "db" and got == case.args[0].shape:
            return ("bias-not-reduced",)
        return ("wrong-shape",)

    def mistakes(self, function: str) -> tuple[str, ...]:
        if function in BACKWARDS:
            return tuple(dict.fromkeys(DERIVATIVE_TAGS[kind] for kind in DERIVATIVE_MISTAKES[BACKWARDS[function]]))
        return {
            "linear_forward": ("transposed",),
            "linear_backward": ("double-batch-mean", "transposed", "bias-not-reduced", "sign-flipped"),
            "softmax_cross_entropy": ("missing-batch-mean", "sign-flipped", "missing-target", "output-derivative-not-cancelled"),
        }[function]

    def sentences(self) -> dict[str, str]:
        s = dict(TAGS)
        s["double-batch-mean"] = "Your gradients are n times too small: dz already holds the 1/n of the batch mean, so do not divide by n again."
        s["missing-batch-mean"] = "n times too large: the cost is the mean over the batch, so both C and dz carry a 1/n."
        s["missing-activation-derivative"] = "σ′(z) is missing: dz = da ⊙ σ′(z)."
        s["activation-instead-of-derivative"] = "σ(z) is used where σ′(z) belongs: dz = da ⊙ σ′(z) (for ReLU 1 where z > 0, else 0), not da ⊙ σ(z)."
        s["missing-target"] = "The target is missing from dz: it is (softmax(z) − y)/n, not softmax(z)/n."
        s["output-derivative-not-cancelled"] = "With the cross-entropy the softmax's derivative cancels: dz = (softmax(z) − y)/n, with no extra p(1 − p) factor."
        s["sign-flipped"] = "The sign is flipped: check softmax(z) − y versus y − softmax(z), and dz W, dzᵀ x, Σ dz."
        s["transposed"] = "Transposed: dW has the shape of W, (out, in), i.e. dz.T @ x; and z = x @ W.T + b has one row per example."
        return s

    def catalogue(self, case: Case) -> list[Mistake]:
        def values(got: dict[str, Array], expected: dict[str, Array]) -> tuple[list[Array], list[Array]]:
            return list(got.values()), list(expected.values())

        def scaled(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            return scaled_candidates(*values(got, expected), None, tol)

        def parts(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
            g, e = values(got, expected)
            return parts_candidates([[a] for a in g], [[a] for a in e], n, tol)

        function = case.function
        if function == "linear_forward":
            square = case.expected.shape[0] == case.expected.shape[1]

            def transposed_output(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
                (g,), (e,) = values(got, expected)
                return [("transposed",)] if g.shape[0] == g.shape[1] and relative_error(g, e.T) <= tol else []

            return [Mistake([case.expected.T] if square else [], transposed_output)]
        if function in BACKWARDS:
            name = BACKWARDS[function]
            da, z = case.args
            a = ACTIVATIONS[name](z)
            mistakes = [Mistake([], scaled)]
            for kind in DERIVATIVE_MISTAKES[name]:
                wrong = da * prime(name, kind, z, a)
                mistakes.append(Mistake(
                    [wrong],
                    lambda got, expected, tol, wrong=wrong, tag=DERIVATIVE_TAGS[kind]: scaled_candidates(list(got.values()), [wrong], None, tol, (tag,)),
                ))
            return mistakes
        n = case.args[0].shape[0]
        if function == "linear_backward":
            dx, dW, db = case.expected

            def transposed_dW(got: dict[str, Array], expected: dict[str, Array], tol: float) -> list[tuple[str, ...]]:
                (g_dx, g_dW, g_db), e = values(got, expected)
                if g_dW.shape[0] == g_dW.shape[1] and relative_error(g_dW, e[1].T) <= tol < relative_error(g_dW, e[1]):
                    if relative_error(g_dx, e[0]) <= tol and relative_error(g_db, e[2]) <= tol:
                        return [("transposed",)]
                return []

            return [
                Mistake([(dx, dW / n, db / n), (-dx, -dW, -db)], parts),
                Mistake([(dx, dW.T, db)] if dW.shape[0] == dW.shape[1] else [], transposed_dW),
            ]
        cost, dz = case.expected
        z, y = case.args
        p = ACTIVATIONS["softmax"](z)  # (n, classes)
        mistakes = [Mistake([(cost, n * dz), (cost, -dz)], parts)]
        for wrong, tag in ((p / n, "missing-target"), ((p - y) * p * (1 - p) / n, "output-derivative-not-cancelled")):

            def output_error(got: dict[str, Array], expected: dict[str, Array], tol: float, wrong: Array = wrong, tag: str = tag) -> list[tuple[str, ...]]:
                g, e = values(got, expected)
                return scaled_candidates([g[1]], [wrong], n, tol, (tag,)) if relative_error(g[0], e[0]) <= tol else []

            mistakes.append(Mistake([(cost, wrong)], output_error))
        return mistakes

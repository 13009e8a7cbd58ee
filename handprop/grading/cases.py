"""Seeded, randomized test cases and their expected values, computed by the engine.

Expected values live only in the grader's memory: ``Case.inputs`` is what the submission receives,
``Case.expected`` is never written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..activations import sigmoid, sigmoid_prime
from ..network import Network
from .config import FUNCTIONS, GradingConfig
from .sandbox import Call

Array = np.ndarray

# The positional arguments of each graded function, in order.
ARGUMENTS: dict[str, tuple[str, ...]] = {
    "sigmoid": ("z",),
    "sigmoid_prime": ("z",),
    "feedforward": ("weights", "biases", "x"),
    "backprop": ("weights", "biases", "x", "y"),
    "update_mini_batch": ("weights", "biases", "x", "y", "eta"),
}

# Batch sizes cycle through these; 1 is always the second case. 2 is left out because at n = 2
# "summed instead of averaged" (×n) and "cost without its ½" (×2) would look the same.
BATCH_SIZES: tuple[int, ...] = (3, 1, 5, 4, 7, 6, 8)


@dataclass
class Case:
    """One call of one function: its arguments and (grader-side only) the expected result.

    ``expected`` maps output keys to arrays: ``"out"`` for the single-array functions,
    ``"w/0", "w/1", …, "b/0", …`` for the two lists returned by backprop and update_mini_batch.
    """

    function: str
    number: int  # 1-based, as shown to students
    inputs: dict[str, Any]  # z | weights, biases, x[, y[, eta]]
    expected: dict[str, Array]
    hidden: bool
    description: str

    @property
    def name(self) -> str:
        return f"{self.function}: case {self.number}"

    @property
    def batch_size(self) -> int:
        return int(self.inputs["x"].shape[0]) if "x" in self.inputs else int(self.inputs["z"].shape[0])


def build_cases(config: GradingConfig) -> dict[str, list[Case]]:
    """``config.cases`` cases per graded function; each function has its own seeded stream."""
    suite: dict[str, list[Case]] = {}
    for function in config.functions:
        # One stream per function, so changing one function's cases never changes another's.
        rng = np.random.default_rng([config.seed, FUNCTIONS.index(function)])
        cases = []
        for k in range(config.cases):
            hidden = k >= config.cases - config.hidden
            cases.append(_make_case(function, k, rng, hidden))
        suite[function] = cases
    return suite


def _make_case(function: str, k: int, rng: np.random.Generator, hidden: bool) -> Case:
    n = BATCH_SIZES[k % len(BATCH_SIZES)]
    if function in ("sigmoid", "sigmoid_prime"):
        z = rng.normal(0.0, 3.0, size=(n, int(rng.integers(1, 8))))  # (n, units)
        s = sigmoid(z)
        out = s if function == "sigmoid" else sigmoid_prime(z, s)
        return Case(function, k + 1, {"z": z}, {"out": out}, hidden, f"z of shape {z.shape}")

    depth = 1 + k % 3  # 1, 2 or 3 weight layers
    if k % 4 == 3:
        sizes = [int(rng.integers(2, 7))] * (depth + 1)  # square layers: a transpose keeps the shape
    else:
        sizes = [int(s) for s in rng.integers(2, 8, size=depth + 1)]
    weights = [rng.normal(0.0, 1.0, size=(out, inp)) for inp, out in zip(sizes[:-1], sizes[1:])]  # (out, in)
    biases = [rng.normal(0.0, 1.0, size=out) for out in sizes[1:]]  # (out,)
    x = rng.uniform(0.0, 1.0, size=(n, sizes[0]))  # (n, in)
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=n)]  # (n, out) one-hot
    eta = float(rng.uniform(0.1, 3.0))
    net = Network.from_parameters(weights, biases, hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")
    inputs: dict[str, Any] = {"weights": weights, "biases": biases, "x": x}
    arch = "-".join(map(str, sizes))
    description = f"layers {arch}, batch of {n}"
    if function == "feedforward":
        return Case(function, k + 1, inputs, {"out": net.forward(x)}, hidden, description)
    inputs["y"] = y
    nabla_w, nabla_b = net.backprop(x, y)
    if function == "backprop":
        return Case(function, k + 1, inputs, pack_pair(nabla_w, nabla_b), hidden, description)
    inputs["eta"] = eta
    new_w = [w - eta * nw for w, nw in zip(weights, nabla_w)]
    new_b = [b - eta * nb for b, nb in zip(biases, nabla_b)]
    return Case(function, k + 1, inputs, pack_pair(new_w, new_b), hidden, f"{description}, eta = {eta:.3g}")


def pack_pair(ws: list[Array], bs: list[Array]) -> dict[str, Array]:
    """Two lists of arrays as one flat dict: ``w/0``… then ``b/0``…."""
    out = {f"w/{i}": w for i, w in enumerate(ws)}
    out.update({f"b/{i}": b for i, b in enumerate(bs)})
    return out


def unpack_pair(arrays: dict[str, Array], layers: int) -> tuple[list[Array], list[Array]]:
    return [arrays[f"w/{i}"] for i in range(layers)], [arrays[f"b/{i}"] for i in range(layers)]


def sandbox_calls(suite: dict[str, list[Case]]) -> list[Call]:
    """Every case as a call for the sandbox: its arguments in the function's order. Only inputs are
    here: the expected values never leave the grader."""
    return [
        Call(function, case.number, [case.inputs[name] for name in ARGUMENTS[function]])
        for function, cases in suite.items()
        for case in cases
    ]


def legacy_arrays(function: str, value: object) -> tuple[dict[str, Array], str]:
    """A returned value as the flat arrays ``judge`` compares (``out``, or ``wn``, ``w/0``…, ``bn``,
    ``b/0``…), or an empty dict and the reason it has the wrong structure."""
    if function in ("sigmoid", "sigmoid_prime", "feedforward"):
        try:
            return {"out": np.asarray(value, dtype=np.float64)}, ""
        except (ValueError, TypeError):
            return {}, "The returned value could not be turned into an array of numbers."
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return {}, f"{function} must return a pair (two lists), got {type(value).__name__}"
    out: dict[str, Array] = {}
    for key, part in zip("wb", value):
        if not isinstance(part, (list, tuple)):
            return {}, f"{function} must return two lists of arrays; item {'0' if key == 'w' else '1'} is a {type(part).__name__}"
        out[f"{key}n"] = np.array(len(part))
        for i, item in enumerate(part):
            if not isinstance(item, (np.ndarray, float, int)):
                return {}, f"{function} must return two lists of arrays; a {type(item).__name__} came back inside one"
            out[f"{key}/{i}"] = np.asarray(item, dtype=np.float64)
    return out, ""

"""Seeded, randomized test cases: what every assignment's case generator shares.

A case's expected value lives only in the grader's memory: ``Case.args`` is what the submission
receives, ``Case.expected`` is never written anywhere.

The case design rule (tested mistake by mistake in tests/test_grading_mistake_table.py): every
catalogued mistake changes the result of every case of the function it affects. So gradient cases
have at least one hidden layer (a mistake in BP2 cannot hide) and a batch of at least 3 (a missing
or doubled 1/n cannot hide at n = 1, and at n = 2 it would look like a factor of 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .sandbox import Call

Array = np.ndarray

# Batch sizes of gradient cases cycle through these: never 1 (×n = ×1), never 2 (×n = ×2).
BATCH_SIZES: tuple[int, ...] = (3, 5, 4, 7, 6, 8)
# Element-wise functions hide nothing at n = 1, so their cases include it.
ELEMENTWISE_BATCH_SIZES: tuple[int, ...] = (3, 1, 5, 4, 7, 6, 8)


@dataclass
class Case:
    """One call of one function: its positional arguments and (grader-side only) the expected result."""

    function: str
    number: int  # 1-based, as shown to students
    args: list[Any]  # positional arguments: arrays, floats, ints, lists of arrays
    expected: Any  # the reference return value, in the structure the student must return
    hidden: bool
    description: str

    @property
    def name(self) -> str:
        return f"{self.function}: case {self.number}"


def case_rng(seed: int, assignment: str, function: str) -> np.random.Generator:
    """One stream per (assignment, function): changing one function's cases never changes another's."""
    salt = [ord(c) for c in f"{assignment}/{function}"]
    return np.random.default_rng([seed, *salt])


def is_hidden(k: int, cases: int, hidden: int) -> bool:
    """The last ``hidden`` of ``cases`` cases (k is 0-based) are hidden."""
    return k >= cases - hidden


def layer_sizes(rng: np.random.Generator, k: int, depth: int, low: int = 2, high: int = 8) -> list[int]:
    """``depth`` + 1 layer widths; every fourth case square (a transposed W keeps its shape there)."""
    if k % 4 == 3:
        return [int(rng.integers(low, high - 1))] * (depth + 1)
    return [int(s) for s in rng.integers(low, high, size=depth + 1)]


def random_parameters(rng: np.random.Generator, sizes: list[int]) -> tuple[list[Array], list[Array]]:
    """Weights (out, in) and biases (out,) drawn from N(0, 1)."""
    weights = [rng.normal(0.0, 1.0, size=(out, inp)) for inp, out in zip(sizes[:-1], sizes[1:])]  # (out, in)
    biases = [rng.normal(0.0, 1.0, size=out) for out in sizes[1:]]  # (out,)
    return weights, biases


def one_hot(rng: np.random.Generator, n: int, classes: int) -> Array:
    """n one-hot rows over ``classes`` classes, (n, classes)."""
    return np.eye(classes)[rng.integers(0, classes, size=n)]


def build_cases(config: Any) -> dict[str, list[Case]]:
    """The suite that ``config`` (a GradingConfig) grades."""
    return config.get_assignment().build_cases(config.seed, config.cases, config.hidden)


def sandbox_calls(suite: dict[str, list[Case]]) -> list[Call]:
    """Every case as a call for the sandbox: its positional arguments. Only inputs are here: the
    expected values never leave the grader."""
    return [Call(function, case.number, list(case.args)) for function, cases in suite.items() for case in cases]

"""The built-in assignments, each a value the grader is given.

    from handprop.grading.assignments import get_assignment, ASSIGNMENTS
    assignment = get_assignment("network", hidden="relu", output="softmax", cost="cross_entropy")
    assignment.functions          # ('relu', 'relu_prime', 'feedforward', 'backprop', 'update_mini_batch')
    suite = assignment.build_cases(seed=0, cases=5, hidden=0)

Adding an assignment is adding a module with an ``Assignment`` subclass and a line below; the
grader, the sandbox and the reports do not change.
"""

from __future__ import annotations

from typing import Callable

from .base import Assignment, Mistake, ReturnedValue
from .chain_rule import ChainRuleAssignment
from .layers import LayersAssignment
from .network import NetworkAssignment

ASSIGNMENTS: dict[str, Callable[..., Assignment]] = {
    "network": NetworkAssignment,
    "chain-rule": ChainRuleAssignment,
    "layers": LayersAssignment,
}


def get_assignment(name: str = "network", **options: str) -> Assignment:
    """The assignment ``name`` with its options; ValueError naming what was expected otherwise."""
    if not isinstance(name, str) or name not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {name!r}; expected one of {', '.join(ASSIGNMENTS)}")
    return ASSIGNMENTS[name](**options)


__all__ = ["ASSIGNMENTS", "Assignment", "Mistake", "ReturnedValue", "get_assignment"]

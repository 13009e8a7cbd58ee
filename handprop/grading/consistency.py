"""Self-consistency: is a wrong gradient the correct derivative of the student's OWN forward pass?

A backprop that differentiates a wrong forward pass correctly (tanh where the sigmoid belongs, in
both directions) fails the reference comparison like any wrong backprop; this module tells the two
apart. For each gradient case it probes the student's forward function, in the same sandboxed
child, at θ ± h·d for a few random unit directions d over all the gradient's parameters, and
compares the directional derivative ⟨g, d⟩ of the student's gradient g with the central difference
(C(θ + h d) − C(θ − h d)) / 2h of the assignment's cost C (the MEAN over the batch) applied to the
student's forward. A few directional derivatives cost 2·DIRECTIONS small forward calls per case
(not a full finite-difference gradient: one call pair per parameter would be far over the time
budget). The probes run in a second sandboxed child, with its own time limits, and only for the
failed gradient cases of a submission: a correct one costs nothing, and a slow forward pass can
never turn a graded case into a timeout.

Where a wrong gradient agrees with its own forward in every direction, the case gets the tag
``forward-wrong-backprop-consistent`` and the feedback says so; ``consistency_credit`` in the course
file (default 0) gives that share of the case's points.

Gradient functions checked: ``backprop`` (network: forward ``feedforward``, cost the assignment's),
``linear_backward`` (layers: forward ``linear_forward``, the functional Σ dz ⊙ z, whose gradient is
(dx, dW, db)) and ``softmax_cross_entropy`` (layers: its own C against its own dz).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .cases import Case
from .diagnose import RUN_TAGS, Verdict
from .sandbox import Call, FunctionRun

logger = logging.getLogger(__name__)

Array = np.ndarray

TAG = "forward-wrong-backprop-consistent"
DIRECTIONS = 3  # random directions per case: one agreeing by chance is unlikely, three are negligible
STEP = 1e-5  # h of the central difference, on unit directions over parameters of scale ~1
AGREEMENT = 1e-4  # |⟨g, d⟩ − FD| ≤ AGREEMENT · ‖g‖: round-off and truncation are ~1e-8 here
PROBE_NUMBERS = 100_000  # probe calls are numbered from here, far above any graded case number


@dataclass
class Spec:
    """How to check one gradient function against the student's own forward."""

    forward: str  # the student's function that is probed
    point: Callable[[Case], list[Array]]  # the parameters the gradient is taken with respect to
    call_args: Callable[[Case, list[Array]], list]  # the forward's arguments at perturbed parameters
    functional: Callable[[Case, Any], float]  # the scalar (cost) from the forward's returned value
    gradient: Callable[[dict[str, Array]], list[Array]]  # the student's gradient, in ``point``'s order


@dataclass
class Probe:
    function: str
    number: int
    directions: list[list[Array]]
    numbers: list[tuple[int, int]]  # (θ + h d, θ − h d) probe call numbers per direction


@dataclass
class Plan:
    specs: dict[str, Spec]
    calls: list[Call] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)


def _network_cost(assignment: Any) -> Callable[[Case, Any], float]:
    cost, output = assignment.cost, assignment.output

    def functional(case: Case, value: Any) -> float:
        a = np.asarray(value, dtype=np.float64)  # (n, out)
        y = case.args[3]  # (n, out)
        if a.shape != y.shape:
            return float("nan")
        n = y.shape[0]
        with np.errstate(all="ignore"):  # a wrong forward may leave the cost's domain: nan, not a warning
            if cost == "quadratic":
                return float(0.5 * ((a - y) ** 2).sum()) / n  # C = (1/n) Σ_x ½‖a − y‖²
            if output == "softmax":
                return float(-(y * np.log(a)).sum()) / n
            return float(-(y * np.log(a) + (1 - y) * np.log(1 - a)).sum()) / n

    return functional


def specs_for(assignment: Any) -> dict[str, Spec]:
    """The gradient functions of ``assignment`` that can be checked against the student's forward."""
    name = getattr(assignment, "name", "")
    if name == "network":
        def split(case: Case, theta: list[Array]) -> list:
            L = len(case.args[0])
            return [theta[0 : 2 * L : 2], theta[1 : 2 * L : 2], case.args[2]]

        return {
            "backprop": Spec(
                "feedforward",
                lambda case: [p for w, b in zip(case.args[0], case.args[1]) for p in (w, b)],  # W1, b1, W2, b2, …
                split,
                _network_cost(assignment),
                lambda got: list(got.values()),  # ∂C/∂W1, ∂C/∂b1, …
            )
        }
    if name == "layers":
        def linear_args(case: Case, theta: list[Array]) -> list:
            return list(theta)

        def linear_point(case: Case) -> list[Array]:
            dz, x, W = case.args
            return [x, W, np.zeros(W.shape[0])]  # b does not enter the gradient; 0 is as good as any

        def linear_functional(case: Case, value: Any) -> float:
            z = np.asarray(value, dtype=np.float64)
            dz = case.args[0]
            return float((dz * z).sum()) if z.shape == dz.shape else float("nan")  # Σ dz ⊙ z: its gradient is (dx, dW, db)

        def ce_functional(case: Case, value: Any) -> float:
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                return float("nan")
            c = np.asarray(value[0], dtype=np.float64)
            return float(c.reshape(())) if c.size == 1 else float("nan")

        return {
            "linear_backward": Spec("linear_forward", linear_point, linear_args, linear_functional, lambda got: list(got.values())),
            "softmax_cross_entropy": Spec(
                "softmax_cross_entropy",
                lambda case: [case.args[0]],
                lambda case, theta: [theta[0], case.args[1]],
                ce_functional,
                lambda got: [got["dz"]],
            ),
        }
    return {}


def _directions(case: Case, point: list[Array], count: int) -> list[list[Array]]:
    """``count`` random unit directions over all parameters, seeded by the case's inputs."""
    seed = hashlib.sha256(repr([(p.shape, p.tobytes()[:64]) for p in point]).encode()).digest()
    rng = np.random.default_rng(list(np.frombuffer(seed[:16], dtype="<u4")))
    out = []
    for _ in range(count):
        d = [rng.normal(size=p.shape) for p in point]
        norm = float(np.sqrt(sum(float((v * v).sum()) for v in d)))
        out.append([v / norm for v in d])
    return out


def plan(
    assignment: Any, suite: dict[str, list[Case]], verdicts: Optional[dict[str, list[Verdict]]] = None,
    runs: Optional[dict[str, FunctionRun]] = None,
) -> Plan:
    """The probe calls for the checkable gradient cases in ``suite``: with ``verdicts``, only those
    that failed on their values (not on how they ran: an exception, a shape); with ``runs``, only
    where the forward function ran in the graded run (one that timed out or crashed is not probed)."""
    specs = specs_for(assignment)
    result = Plan(specs)
    number = PROBE_NUMBERS
    for function, spec in specs.items():
        if function not in suite or spec.forward not in suite:
            continue
        if runs is not None and (spec.forward not in runs or runs[spec.forward].status != "ran"):
            continue
        for k, case in enumerate(suite[function]):
            if verdicts is not None and function in verdicts:
                verdict = verdicts[function][k]
                if verdict.passed or set(verdict.tags) & set(RUN_TAGS):
                    continue
            point = spec.point(case)
            probe = Probe(function, case.number, _directions(case, point, DIRECTIONS), [])
            for d in probe.directions:
                plus = [p + STEP * v for p, v in zip(point, d)]
                minus = [p - STEP * v for p, v in zip(point, d)]
                result.calls.append(Call(spec.forward, number, spec.call_args(case, plus)))
                result.calls.append(Call(spec.forward, number + 1, spec.call_args(case, minus)))
                probe.numbers.append((number, number + 1))
                number += 2
            result.probes.append(probe)
    return result


def consistent(assignment: Any, spec: Spec, case: Case, probe: Probe, run: Any, forward: Optional[FunctionRun]) -> bool:
    """True when the student's gradient on ``case`` agrees with the central differences of their own
    forward in every probed direction (False whenever anything needed is missing)."""
    if forward is None or forward.status != "ran" or run is None or getattr(run, "status", "") != "ok":
        return False
    try:
        g = [np.asarray(v, dtype=np.float64) for v in spec.gradient(assignment.tensors(case.function, run.value))]
    except (ValueError, TypeError, KeyError):
        return False
    point = spec.point(case)
    if len(g) != len(point) or any(a.shape != p.shape for a, p in zip(g, point)) or not all(np.isfinite(a).all() for a in g):
        return False
    scale = float(np.sqrt(sum(float((a * a).sum()) for a in g)))
    if scale == 0.0:
        return False
    for d, (plus, minus) in zip(probe.directions, probe.numbers):
        runs = [forward.cases.get(plus), forward.cases.get(minus)]
        if any(r is None or r.status != "ok" for r in runs):
            return False
        try:
            c_plus, c_minus = (spec.functional(case, r.value) for r in runs)
        except (ValueError, TypeError, IndexError):
            return False
        if not (np.isfinite(c_plus) and np.isfinite(c_minus)):
            return False
        fd = (c_plus - c_minus) / (2 * STEP)
        gd = sum(float((a * v).sum()) for a, v in zip(g, d))
        if abs(gd - fd) > AGREEMENT * scale:
            return False
    return True


def review(
    assignment: Any, suite: dict[str, list[Case]], verdicts: dict[str, list[Verdict]], runs: dict[str, FunctionRun], probes: Plan,
    probe_runs: dict[str, FunctionRun],
) -> dict[str, int]:
    """Tag every failed gradient case that is consistent with the student's own forward: ``runs``
    are the graded calls' runs, ``probe_runs`` the probes'. Returns the tagged cases per function."""
    tagged: dict[str, int] = {}
    by_case = {(p.function, p.number): p for p in probes.probes}
    for function, spec in probes.specs.items():
        if function not in verdicts:
            continue
        forward_fails = sum(not v.passed for v in verdicts.get(spec.forward, []))
        for case, verdict in zip(suite[function], verdicts[function]):
            probe = by_case.get((function, case.number))
            if verdict.passed or probe is None or set(verdict.tags) & set(RUN_TAGS):
                continue
            run = runs[function].cases.get(case.number) if function in runs else None
            if not consistent(assignment, spec, case, probe, run, probe_runs.get(spec.forward)):
                continue
            forward_text = (
                f"your {spec.forward} fails {forward_fails} of its {len(verdicts[spec.forward])} cases"
                if forward_fails and spec.forward != function
                else f"your {spec.forward} computes something other than the reference"
            )
            verdict.tags = [TAG]
            verdict.candidates = [(TAG,)]
            verdict.message = (
                f"Your {function} is the correct derivative of your forward pass (it agrees with finite differences of your own "
                f"{spec.forward} in {len(probe.directions)} random directions); the forward pass is wrong: {forward_text}. "
                f"Fix the forward pass (in {spec.forward} and wherever {function} recomputes it), and the gradient should follow. "
                + verdict.message
            ).strip()
            tagged[function] = tagged.get(function, 0) + 1
    return tagged

"""Compare one returned value with the expected one and, when it is wrong, say what it most likely is.

Mistakes are recognised by fitting, never by guessing: the least-squares scale s between the
student's gradient and the correct one (s = n: summed instead of averaged; s = −1: sign; s = 2 or ½:
the ½ of the cost), a comparison with the transpose, and recomputation with the known wrong
formulas of ``variants.py``. A tag is attached only when the fitted explanation reproduces the
student's numbers to within the grading tolerance (at least ``DIAGNOSIS_RTOL``), so a float32
computation with a mistake is still recognised; a passing answer is never diagnosed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..activations import sigmoid
from ..network import Network
from .cases import Case, legacy_arrays, unpack_pair
from .sandbox import CaseRun, FunctionRun
from .variants import variant_backprop

Array = np.ndarray

DIAGNOSIS_RTOL = 1e-6  # the least tolerance an explanation must reproduce the student's numbers to

# The stable tags, each with the sentence shown to the student.
TAGS: dict[str, str] = {
    "missing-batch-mean": "Your gradients are n times too large: the cost is the mean over the batch, so divide the sum over examples by n.",
    "double-batch-mean": "Your gradients are n times too small: the 1/n of the batch mean was applied twice.",
    "transposed": "The weight gradient is transposed: ∂C/∂W has the shape of W, (out, in), i.e. delta.T @ a_prev.",
    "sign-flipped": "The sign is flipped: the gradient points uphill (check a − y versus y − a, and w − eta·∇ versus w + eta·∇).",
    "factor-2": "Off by a factor of 2: the cost is ½‖a − y‖², whose derivative is a − y (not 2(a − y), and not (a − y)/2).",
    "missing-activation-derivative": "σ′(z) is missing from δ: δ = ∂C/∂a ⊙ σ′(z) in every layer, including the output layer.",
    "derivative-of-activation-not-preactivation": "σ′ is evaluated at the wrong quantity: use σ′(z) = σ(z)(1 − σ(z)) at the pre-activation z, which equals a(1 − a) written with the activation; not σ′(a) = σ(a)(1 − σ(a)), and not z(1 − z).",
    "bias-not-reduced": "The bias gradient was not summed over the batch correctly: ∂C/∂b = δ summed over the examples (axis 0), shape (out,).",
    "wrong-shape": "The result has the wrong shape.",
    "nan-or-inf": "The result contains NaN or infinite values.",
    "not-an-array": "The function did not return what was asked for (NumPy arrays of numbers, in the documented structure).",
    "exception": "The function raised an exception.",
    "timeout": "The function did not return in time (an infinite loop, or far too slow).",
    "missing-function": "Your file does not define this function (check its name and that it is at the top level).",
}

# When several explanations fit equally well, the one whose tags come first in TAGS is shown first.
_PRIORITY = tuple(TAGS)


@dataclass
class Verdict:
    """The grading of one case: passed or not, the mistake tags, and the feedback text."""

    passed: bool
    tags: list[str] = field(default_factory=list)
    message: str = ""
    error: Optional[float] = None  # max relative error over the returned arrays, when comparable
    candidates: list[tuple[str, ...]] = field(default_factory=list)  # every explanation that fits


def judge(case: Case, function_run: FunctionRun, rtol: float) -> Verdict:
    """Grade one case from how its function ran in the sandbox."""
    status = function_run.status
    if status == "missing":
        return _fail(["missing-function"], function_run.message)
    if status == "timeout":
        return _fail(["timeout"], function_run.message)
    if status in ("import-error", "crashed"):
        return _fail(["exception"], function_run.message)
    if status == "unreadable":
        return _fail(["not-an-array"], function_run.message)
    run = function_run.cases.get(case.number, CaseRun("badreturn", "no result came back for this case"))
    if run.status == "exception":
        return _fail(["exception"], run.message)
    if run.status != "ok":
        return _fail(["not-an-array"], run.message)
    arrays, problem = legacy_arrays(case.function, run.value)
    if problem:
        return _fail(["not-an-array"], problem)
    if case.function in ("backprop", "update_mini_batch"):
        return _judge_pair(case, arrays, rtol)
    return _judge_single(case, arrays, rtol)


def _tol(rtol: float) -> float:
    return max(rtol, DIAGNOSIS_RTOL)


def _fail(tags: list[str], detail: str = "", error: Optional[float] = None, candidates=None) -> Verdict:
    sentences = [TAGS[t] for t in tags]
    message = " ".join(sentences)
    if detail:
        message += ("\n" if "\n" in detail else " ") + detail
    return Verdict(False, list(tags), message, error, candidates or ([tuple(tags)] if tags else []))


def relative_error(got: Array, expected: Array) -> float:
    """max|got − expected| / max|expected|: the error on the array's own scale."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return float(np.max(np.abs(got - expected))) / max(scale, 1e-300) if expected.size else 0.0


# -- single-array functions ----------------------------------------------------------------------


def _judge_single(case: Case, arrays: dict[str, Array], rtol: float) -> Verdict:
    expected = case.expected["out"]
    got = arrays.get("out")
    if got is None:
        return _fail(["not-an-array"], "Nothing came back.")
    if got.shape != expected.shape:
        if case.function == "feedforward" and got.ndim == 2 and got.shape == expected.shape[::-1]:
            tag = "transposed"
            detail = f"Expected shape {expected.shape} (one row per example), got {got.shape}."
            return _fail([tag], detail)
        return _fail(["wrong-shape"], f"Expected shape {expected.shape}, got {got.shape}.")
    if not np.isfinite(got).all():
        return _fail(["nan-or-inf"])
    error = relative_error(got, expected)
    if error <= rtol:
        return Verdict(True, error=error)
    candidates: list[tuple[str, ...]] = []
    if case.function == "sigmoid_prime":
        z = case.inputs["z"]
        for wrong in (z * (1 - z), _sig_prime(sigmoid(z))):  # a(1 − a) applied to z; σ′(σ(z))
            candidates += [("derivative-of-activation-not-preactivation",) + extra for extra in _scale_tags(got, wrong, None, _tol(rtol))]
        candidates += [c for c in _scale_tags(got, expected, None, _tol(rtol)) if c]
    if case.function == "feedforward" and got.shape[0] == got.shape[1]:
        if relative_error(got, expected.T) <= _tol(rtol):
            candidates.append(("transposed",))
    return _from_candidates(candidates, error, rtol)


def _sig_prime(z: Array) -> Array:
    s = sigmoid(z)
    return s * (1 - s)


def _from_candidates(candidates: list[tuple[str, ...]], error: float, rtol: float) -> Verdict:
    detail = f"Largest error relative to the scale of the expected values: {error:.3g} (tolerance {rtol:g})."
    candidates = _ordered(candidates)
    if not candidates:
        return Verdict(False, [], f"The values are wrong. {detail}", error, [])
    return _fail(list(candidates[0]), detail, error, candidates)


def _ordered(candidates: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    unique = list(dict.fromkeys(tuple(sorted(c, key=_PRIORITY.index)) for c in candidates if c))
    return sorted(unique, key=lambda c: (len(c), [_PRIORITY.index(t) for t in c]))


# -- scale fitting -------------------------------------------------------------------------------


def fitted_scale(got: Sequence[Array], ref: Sequence[Array], tol: float = DIAGNOSIS_RTOL) -> Optional[float]:
    """The least-squares s minimising Σ‖got − s·ref‖², if s·ref reproduces got; else None."""
    g = np.concatenate([a.ravel() for a in got]) if got else np.zeros(0)
    r = np.concatenate([a.ravel() for a in ref]) if ref else np.zeros(0)
    if g.shape != r.shape or not g.size:
        return None
    rr = float(r @ r)
    if rr == 0.0 or not np.isfinite(g).all():
        return None
    s = float(g @ r) / rr
    if s == 0.0 or np.max(np.abs(g - s * r)) > tol * abs(s) * np.max(np.abs(r)):
        return None
    return s


def explain_scale(s: float, n: Optional[int], tol: float = DIAGNOSIS_RTOL) -> list[tuple[str, ...]]:
    """Every smallest combination of known mistakes whose factors multiply to s (() for s = 1)."""
    factors = [(-1.0, "sign-flipped"), (2.0, "factor-2"), (0.5, "factor-2")]
    if n is not None and n > 1:
        factors = [(float(n), "missing-batch-mean"), (1.0 / n, "double-batch-mean")] + factors
    found: list[tuple[str, ...]] = []
    for size in range(0, 4):
        for combo in itertools.combinations(factors, size):
            tags = [t for _, t in combo]
            if len(set(tags)) < len(tags):
                continue
            product = float(np.prod([f for f, _ in combo])) if combo else 1.0
            if abs(product - s) <= tol * abs(s):
                found.append(tuple(tags))
        if found:
            return found
    return []


def _scale_tags(got: Array, ref: Array, n: Optional[int], tol: float) -> list[tuple[str, ...]]:
    s = fitted_scale([got], [ref], tol)
    return [] if s is None else explain_scale(s, n, tol)


# -- functions returning (weights-like, biases-like) --------------------------------------------


def _judge_pair(case: Case, arrays: dict[str, Array], rtol: float) -> Verdict:
    weights, biases = case.inputs["weights"], case.inputs["biases"]
    L, n = len(weights), case.batch_size
    exp_w, exp_b = unpack_pair(case.expected, L)
    counts = (arrays.get("wn"), arrays.get("bn"))
    if any(c is None or c.ndim != 0 for c in counts):
        return _fail(["not-an-array"], "Expected two lists of arrays.")
    if int(counts[0]) != L or int(counts[1]) != L:
        return _fail(["wrong-shape"], f"Expected {L} weight and {L} bias arrays (one per layer), got {int(counts[0])} and {int(counts[1])}.")
    got_w = [arrays.get(f"w/{i}") for i in range(L)]
    got_b = [arrays.get(f"b/{i}") for i in range(L)]
    if any(a is None for a in got_w + got_b):
        return _fail(["not-an-array"], "Some of the returned arrays did not come back.")

    # Shapes first: they explain themselves.
    tags: list[str] = []
    details: list[str] = []
    for i, (g, e) in enumerate(zip(got_w, exp_w)):
        if g.shape == e.shape:
            continue
        if g.ndim == 2 and g.shape == e.shape[::-1]:
            tags.append("transposed")
            details.append(f"Layer {i}: weights expected {e.shape}, got {g.shape}.")
        else:
            tags.append("wrong-shape")
            details.append(f"Layer {i}: weights expected {e.shape}, got {g.shape}.")
    alternative = list(tags)  # at n = 1 an unreduced (n, out) is also keepdims' (1, out)
    for i, (g, e) in enumerate(zip(got_b, exp_b)):
        if g.shape == e.shape:
            continue
        out = e.shape[0]
        if g.shape == (n, out) or (g.shape == (n,) and n != out):
            tags.append("bias-not-reduced")
            alternative.append("wrong-shape" if n == 1 else "bias-not-reduced")
        else:
            tags.append("wrong-shape")
            alternative.append("wrong-shape")
        details.append(f"Layer {i}: biases expected {e.shape}, got {g.shape}.")
    if tags:
        tags, alternative = list(dict.fromkeys(tags)), list(dict.fromkeys(alternative))
        return _fail(tags, " ".join(details), candidates=list(dict.fromkeys([tuple(tags), tuple(alternative)])))
    if not all(np.isfinite(a).all() for a in got_w + got_b):
        return _fail(["nan-or-inf"])
    error = max(relative_error(g, e) for g, e in zip(got_w + got_b, exp_w + exp_b))
    if error <= rtol:
        return Verdict(True, error=error)

    x, y = case.inputs["x"], case.inputs["y"]
    net = Network.from_parameters(weights, biases, hidden="sigmoid", output="sigmoid", cost="quadratic", dtype="float64")
    g_w, g_b = net.backprop(x, y)  # the correct gradient, (out, in) and (out,)
    if case.function == "update_mini_batch":
        # Judge the step by the gradient it implies: new = old − eta·∇  ⇒  ∇ = (old − new) / eta.
        eta = float(case.inputs["eta"])
        got_w = [(w - nw) / eta for w, nw in zip(weights, got_w)]
        got_b = [(b - nb) / eta for b, nb in zip(biases, got_b)]
    candidates = gradient_candidates(got_w, got_b, g_w, g_b, weights, biases, x, y, _tol(rtol))
    verdict = _from_candidates(candidates, error, rtol)
    verdict.message += _which_part(got_w, got_b, g_w, g_b, rtol)
    return verdict


def _which_part(got_w: list[Array], got_b: list[Array], g_w: list[Array], g_b: list[Array], rtol: float) -> str:
    """A sentence saying so when only the weights' or only the biases' part is wrong."""
    weights_ok = all(relative_error(g, e) <= rtol for g, e in zip(got_w, g_w))
    biases_ok = all(relative_error(g, e) <= rtol for g, e in zip(got_b, g_b))
    if weights_ok and not biases_ok:
        return " The weights' part is right: only the biases' part is wrong."
    if biases_ok and not weights_ok:
        return " The biases' part is right: only the weights' part is wrong."
    return ""


def gradient_candidates(
    got_w: list[Array], got_b: list[Array], g_w: list[Array], g_b: list[Array],
    weights: list[Array], biases: list[Array], x: Array, y: Array, tol: float = DIAGNOSIS_RTOL,
) -> list[tuple[str, ...]]:  # fmt: skip
    """Every known mistake (or combination) that reproduces the student's gradient."""
    n, L = x.shape[0], len(weights)
    candidates: list[tuple[str, ...]] = []
    # Transposed weight gradients (square layers keep their shape, so compare values).
    transposed = [
        g.shape[0] == g.shape[1] and relative_error(g, e.T) <= tol < relative_error(g, e)
        for g, e in zip(got_w, g_w)
    ]
    if any(transposed):
        rest_ok = all(t or relative_error(g, e) <= tol for t, g, e in zip(transposed, got_w, g_w))
        if rest_ok and all(relative_error(g, e) <= tol for g, e in zip(got_b, g_b)):
            candidates.append(("transposed",))
    # One scale for everything, or one for the weights and another for the biases.
    s = fitted_scale(got_w + got_b, g_w + g_b, tol)
    if s is not None:
        candidates += explain_scale(s, n, tol)
    else:
        s_w, s_b = fitted_scale(got_w, g_w, tol), fitted_scale(got_b, g_b, tol)
        if s_w is not None and s_b is not None:
            for a, b in itertools.product(explain_scale(s_w, n, tol), explain_scale(s_b, n, tol)):
                candidates.append(tuple(dict.fromkeys(a + b)))
    # Recompute with the known wrong formulas for σ′, allowing a scale mistake on top.
    places = ("all", "output", "hidden") if L > 1 else ("all",)
    for derivative, tag in (("none", "missing-activation-derivative"), ("a", "derivative-of-activation-not-preactivation"), ("z(1-z)", "derivative-of-activation-not-preactivation")):
        for where in places:
            v_w, v_b, _ = variant_backprop(weights, biases, x, y, derivative, where)
            s = fitted_scale(got_w + got_b, v_w + v_b, tol)
            if s is not None:
                candidates += [(tag,) + extra for extra in explain_scale(s, n, tol)]
    # Biases summed over the units instead of the examples (same shape only when n = out).
    _, _, deltas = variant_backprop(weights, biases, x, y)
    for i, (g, d) in enumerate(zip(got_b, deltas)):
        if d.shape[0] == d.shape[1] and relative_error(g, d.sum(axis=1)) <= tol < relative_error(g, g_b[i]):
            candidates.append(("bias-not-reduced",))
            break
    return candidates

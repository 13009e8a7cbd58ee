"""What every assignment's judging shares: the tags, the verdict, and fitting a mistake to numbers.

Mistakes are recognised by fitting, never by guessing: the least-squares scale s between the
student's result and the correct one (s = n: summed instead of averaged; s = −1: sign; s = 2 or ½:
a factor of 2 in the cost), a comparison with the transpose, and recomputation with the known wrong
formulas of each assignment (``variants.py`` for the network). A tag is attached only when the
fitted explanation reproduces the student's numbers to within the grading tolerance (at least
``DIAGNOSIS_RTOL``), so a float32 computation with a mistake is still recognised; a passing answer
is never diagnosed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

Array = np.ndarray

DIAGNOSIS_RTOL = 1e-6  # the least tolerance an explanation must reproduce the student's numbers to

# The stable tags, each with its generic sentence (an assignment may word a tag for its own cost).
TAGS: dict[str, str] = {
    "missing-batch-mean": "Your gradients are n times too large: the cost is the mean over the batch, so divide the sum over examples by n.",
    "double-batch-mean": "Your gradients are n times too small: the 1/n of the batch mean was applied twice.",
    "transposed": "The weight gradient is transposed: ∂C/∂W has the shape of W, (out, in), i.e. delta.T @ a_prev.",
    "sign-flipped": "The sign is flipped: the gradient points uphill (check a − y versus y − a, and w − eta·∇ versus w + eta·∇).",
    "factor-2": "Off by a factor of 2: the cost is ½‖a − y‖², whose derivative is a − y (not 2(a − y), and not (a − y)/2).",
    "missing-activation-derivative": "σ′(z) is missing from δ: δ = ∂C/∂a ⊙ σ′(z) in every layer, including the output layer.",
    "derivative-of-activation-not-preactivation": "σ′ is evaluated at the wrong quantity: use σ′(z) at the pre-activation z (for the sigmoid σ(z)(1 − σ(z)), which equals a(1 − a) written with the activation); not σ′(a), and not the a-formula applied to z such as z(1 − z).",
    "activation-instead-of-derivative": "σ(z) is used where σ′(z) belongs: δ and the _prime function need the activation's derivative (for the sigmoid σ(z)(1 − σ(z)); for ReLU 1 where z > 0, else 0), not the activation itself.",
    "bias-not-reduced": "The bias gradient was not summed over the batch correctly: ∂C/∂b = δ summed over the examples (axis 0), shape (out,).",
    "reversed-order": "The list runs from the output back to the input: entry l must belong to layer l (reverse the list you built on the way back).",
    "missing-target": "The target is missing from the output error: it is a − y, not a (subtract y before anything else).",
    "output-derivative-not-cancelled": "With the cross-entropy cost the output's σ′ cancels: δ = a − y at the output, with no extra σ′(z) (or a(1 − a)) factor.",
    # issue 20 (consistency.py): the wrong gradient is the right derivative of a wrong forward pass.
    "forward-wrong-backprop-consistent": "Your gradient is the correct derivative of your forward pass, but the forward pass is wrong.",
    "modified-input": "Your function changed the arrays it was given (in place): return new arrays and leave the inputs as they were.",
    "wrong-shape": "The result has the wrong shape.",
    "nan-or-inf": "The result contains NaN or infinite values.",
    "not-an-array": "The function did not return what was asked for (NumPy arrays of numbers, in the documented structure).",
    "exception": "The function raised an exception.",
    "timeout": "The function did not return in time (an infinite loop, or far too slow).",
    "missing-function": "Your file does not define this function (check its name and that it is at the top level).",
}

# Tags that describe how a function ran rather than a mistake in its mathematics.
RUN_TAGS: tuple[str, ...] = ("modified-input", "wrong-shape", "nan-or-inf", "not-an-array", "exception", "timeout", "missing-function")

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


def fail(tags: Sequence[str], sentences: Mapping[str, str], detail: str = "", error: Optional[float] = None, candidates=None) -> Verdict:
    """A failed case with ``tags`` explained by ``sentences`` (an assignment's wording of TAGS)."""
    message = " ".join(sentences[t] for t in tags)
    if detail:
        message += ("\n" if "\n" in detail else " ") + detail
    return Verdict(False, list(tags), message.strip(), error, candidates or ([tuple(tags)] if tags else []))


def from_candidates(candidates: list[tuple[str, ...]], error: float, rtol: float, sentences: Mapping[str, str]) -> Verdict:
    """A failed case: the best-fitting explanation, or no tag at all when nothing fits."""
    detail = f"Largest error relative to the scale of the expected values: {error:.3g} (tolerance {rtol:g})."
    candidates = ordered(candidates)
    if not candidates:
        return Verdict(False, [], f"The values are wrong. {detail}", error, [])
    return fail(list(candidates[0]), sentences, detail, error, candidates)


def ordered(candidates: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Unique explanations, fewest tags first, then by the tags' order in TAGS."""
    unique = list(dict.fromkeys(tuple(sorted(dict.fromkeys(c), key=_PRIORITY.index)) for c in candidates if c))
    return sorted(unique, key=lambda c: (len(c), [_PRIORITY.index(t) for t in c]))


def relative_error(got: Array, expected: Array) -> float:
    """max|got − expected| / max|expected|: the error on the array's own scale."""
    if not expected.size:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float range: the error is inf, said so, no warning
        scale = float(np.max(np.abs(expected)))
        error = float(np.max(np.abs(got - expected)))
    return error / max(scale, 1e-300)  # Python floats: an overflow is inf, without a warning


def max_error(got: Sequence[Array], expected: Sequence[Array]) -> float:
    """The largest relative error over matching arrays."""
    return max((relative_error(g, e) for g, e in zip(got, expected)), default=0.0)


def fitted_scale(got: Sequence[Array], ref: Sequence[Array], tol: float = DIAGNOSIS_RTOL) -> Optional[float]:
    """The least-squares s minimising Σ‖got − s·ref‖², if s·ref reproduces got; else None."""
    g = np.concatenate([np.ravel(a) for a in got]) if len(got) else np.zeros(0)
    r = np.concatenate([np.ravel(a) for a in ref]) if len(ref) else np.zeros(0)
    if g.shape != r.shape or not g.size:
        return None
    if not np.isfinite(g).all() or not np.isfinite(r).all():
        return None
    g_scale, r_scale = float(np.max(np.abs(g))), float(np.max(np.abs(r)))
    if g_scale == 0.0 or r_scale == 0.0:
        return None
    # on each array's own scale, so values near the float range neither overflow nor fit by accident
    gn, rn = g / g_scale, r / r_scale
    s_n = float(gn @ rn) / float(rn @ rn)
    with np.errstate(over="ignore"):
        s = s_n * (g_scale / r_scale)
    if s == 0.0 or not math.isfinite(s) or np.max(np.abs(gn - s_n * rn)) > tol * abs(s_n):
        return None
    return s


def explain_scale(s: float, n: Optional[int], tol: float = DIAGNOSIS_RTOL, factor_2: bool = True) -> list[tuple[str, ...]]:
    """Every smallest combination of known mistakes whose factors multiply to s (() for s = 1).

    ``n`` is the batch size (None where no batch mean is involved); ``factor_2`` allows ×2 and ×½.
    """
    factors = [(-1.0, "sign-flipped")]
    if factor_2:
        factors += [(2.0, "factor-2"), (0.5, "factor-2")]
    if n is not None and n > 1:
        factors = [(float(n), "missing-batch-mean"), (1.0 / n, "double-batch-mean")] + factors
    found: list[tuple[str, ...]] = []
    if not math.isfinite(s):
        return found
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


def scaled_candidates(
    got: Sequence[Array], ref: Sequence[Array], n: Optional[int], tol: float, base: tuple[str, ...] = (), factor_2: bool = True
) -> list[tuple[str, ...]]:
    """``base`` plus every scale mistake that turns ``ref`` into ``got`` (nothing if none does)."""
    s = fitted_scale(got, ref, tol)
    if s is None:
        return []
    return [base + extra for extra in explain_scale(s, n, tol, factor_2)]


def parts_candidates(
    got: Sequence[Sequence[Array]], ref: Sequence[Sequence[Array]], n: Optional[int], tol: float, base: tuple[str, ...] = (), factor_2: bool = True
) -> list[tuple[str, ...]]:
    """Scale mistakes that turn ``ref`` into ``got``: one scale for everything, or else one scale per
    part (say the weights' part and the biases' part), each part explained on its own."""
    whole = scaled_candidates([a for p in got for a in p], [a for p in ref for a in p], n, tol, base, factor_2)
    if whole:
        return whole
    per_part = [scaled_candidates(list(g), list(r), n, tol, (), factor_2) for g, r in zip(got, ref)]
    if not all(per_part):
        return []
    return [tuple(dict.fromkeys(base + sum(combo, ()))) for combo in itertools.product(*per_part)]

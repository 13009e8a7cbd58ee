"""Compare the hand-written engine with its autograd twin, tensor by tensor.

``compare(net, X, Y)`` runs ``net.gradients`` (hand-written backprop) and ``twin_gradients`` (torch
autograd on the same weights, same batch) and returns a ``Report`` with one ``Row`` per tensor,
named after the math:

    C                   the mean cost over the batch
    dC/da0              ∂C/∂a^0, the gradient with respect to the input x        (n, inputs)
    dC/dWℓ, dC/dbℓ      ∂C/∂W^ℓ (out, in) and ∂C/∂b^ℓ (out,)                      ℓ = 1…L
    dC/dzℓ              δ^ℓ = ∂C/∂z^ℓ (n, out)
    dC/daℓ              ∂C/∂a^ℓ (n, out); ℓ = L is the output

Relative error (one definition, used everywhere)
-----------------------------------------------
For the engine's tensor h and the twin's tensor t (the reference):

    rel(h, t) = max_i |h_i − t_i| / max(max_i m_i, tiny)

where m ≥ |t| is the size of the terms summed into each entry, from backprop run on absolute values
(``error_scales``). When no sum cancels, m = |t| and rel is the ∞-norm relative error
max|h − t| / max|t|: the largest error measured against the tensor's largest entry. An element-wise
ratio |h_i − t_i| / |t_i| would be meaningless for entries that are zero or nearly so by
cancellation (a bias gradient that sums positive and negative δs, a dead ReLU unit): both sides then
hold rounding noise of the size of the *terms* they summed. m is exactly that size (the standard
running error bound: each entry's rounding error is a few ε_mach · m_i), so rel stays a fair
measure, and it still catches every real bug (a wrong sign, a missing factor, a swapped index change
the large entries). ``tiny`` (the dtype's smallest normal number) only matters when the reference
is exactly zero everywhere, and then a non-zero h gives a huge error, as it should.

Tolerance
---------
``TOLERANCES``: 1e-10 in float64 (the project's contract); 1e-4 in float32. Both sides round to
float32 (ε = 1.2e-7) in different orders (NumPy's and torch's matmul and reductions differ); the
largest float32 error measured over 1,512 comparisons (``python -m verify.measure``: every
activation × cost, batch sizes 1, 2, 37) was 1.07e-5 (≈ 90 ε). 1e-4 leaves a 10× margin and stays
three orders of magnitude below what a derivative wrong by 0.1 % produces.

Saturation: where a sigmoid, tanh or softmax unit sits within 1 − |a| of its asymptote, σ' and the
softmax Jacobian subtract nearly equal numbers and *any* correct implementation carries a relative
error of ~ε/(1 − |a|); two of them then disagree by that much and no tolerance is meaningful
(``saturation_margin`` measures it; docs/engine.md shows the engine is as close to a float64
reference as torch is in such a case).

Saturated cross-entropy outputs
-------------------------------
With the cross-entropy cost the twin gets ∂C/∂a^L by differentiating the cost written through
log a^L (``TwinNetwork.output_cost_from_a``), which is infinite or NaN where a probability rounded to
exactly 0 (or, for a sigmoid output, to exactly 1): the derivative of log at 0. The engine instead
clips the denominator at ``tiny`` and returns a huge *finite* number there. Those entries have no
finite reference value, so the output row leaves them out and reports how many it skipped
(``Row.skipped``); it still fails if the engine's value there is not finite. Backprop itself never
uses ∂C/∂a^L for cross-entropy (δ^L is fused: a − y), so every other row is compared in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from handprop import Gradients, Network

TOLERANCES: dict[str, float] = {"float64": 1e-10, "float32": 1e-4}

# Every output activation with each cost it supports: the matrix the tests and measure.py sweep.
OUTPUT_COSTS: list[tuple[str, str]] = [
    ("sigmoid", "quadratic"),
    ("sigmoid", "cross_entropy"),
    ("softmax", "cross_entropy"),
    ("softmax", "quadratic"),
    ("identity", "quadratic"),
    ("tanh", "quadratic"),
    ("relu", "quadratic"),
]


class GradientMismatch(AssertionError):
    """The engine and the twin disagree on at least one tensor (the message names them)."""


def relative_error(h: np.ndarray, t: np.ndarray, scale: Any = None) -> tuple[float, float]:
    """(max |h − t|, max |h − t| / max(max |t|, max scale, tiny)) for two arrays of the same shape.

    ``scale`` (optional, same shape or broadcastable) is the size of the terms each entry of t was
    summed from (``error_scales``); it is ≥ |t| and equals it when nothing cancels. Computed in
    float64 whatever the inputs' dtype, so the measurement adds no rounding of its own. A NaN or
    infinity anywhere gives an infinite error (never a silent pass).
    """
    h64, t64 = np.asarray(h, dtype=np.float64), np.asarray(t, dtype=np.float64)
    if h64.shape != t64.shape:
        raise ValueError(f"cannot compare shapes {h64.shape} and {t64.shape}")
    if h64.size == 0:
        return 0.0, 0.0
    if not (np.isfinite(h64).all() and np.isfinite(t64).all()):
        return math.inf, math.inf
    tiny = np.finfo(np.asarray(t).dtype if np.asarray(t).dtype.kind == "f" else np.float64).tiny
    abs_err = float(np.max(np.abs(h64 - t64)))
    size = float(np.max(np.abs(t64)))
    if scale is not None and np.size(scale):
        size = max(size, float(np.max(scale)))
    return abs_err, abs_err / max(size, float(tiny))


@dataclass(frozen=True)
class Row:
    """One tensor of the comparison."""

    name: str  # after the math: "C", "dC/dW1", "dC/dz2", "dC/da0", ...
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    tolerance: float
    skipped: int = 0  # saturated output entries left out (see the module docstring)

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= self.tolerance  # False for NaN and inf

    def describe(self) -> str:
        skipped = f", {self.skipped} saturated entries skipped" if self.skipped else ""
        return (
            f"{self.name} {self.shape}: max abs error {self.max_abs_error:.3e}, "
            f"max rel error {self.max_rel_error:.3e} > tolerance {self.tolerance:.0e}{skipped}"
        )


@dataclass
class Report:
    """The per-tensor comparison of one batch; ``passed`` when every row is within tolerance."""

    network: str
    dtype: str
    batch_size: int
    tolerance: float
    rows: list[Row] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[Row]:
        return [row for row in self.rows if not row.passed]

    @property
    def max_rel_error(self) -> float:
        """The largest relative error over every tensor (the cost included)."""
        return max(row.max_rel_error for row in self.rows)

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; rows are: {', '.join(r.name for r in self.rows)}")

    def raise_if_failed(self) -> "Report":
        """Raise ``GradientMismatch`` naming every tensor out of tolerance; return self otherwise."""
        if not self.passed:
            lines = "\n  ".join(row.describe() for row in self.failures)
            raise GradientMismatch(
                f"{self.network}, {self.dtype}, batch of {self.batch_size}: engine and autograd disagree on\n  {lines}"
            )
        return self

    def table(self) -> str:
        """An aligned text table: tensor, shape, max abs error, max rel error, tolerance, verdict."""
        header = ("tensor", "shape", "max abs err", "max rel err", "tolerance", "result")
        body = [
            (
                row.name,
                "x".join(map(str, row.shape)) if row.shape else "scalar",
                f"{row.max_abs_error:.2e}",
                f"{row.max_rel_error:.2e}",
                f"{row.tolerance:.0e}",
                ("ok" if row.passed else "FAIL") + (f" ({row.skipped} saturated skipped)" if row.skipped else ""),
            )
            for row in self.rows
        ]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        right = (False, False, True, True, True, False)

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(header), rule, *map(line, body)])


def saturated_outputs(net: Network, a_L: np.ndarray) -> np.ndarray:
    """Where ∂C/∂a^L has no finite value: a cross-entropy probability rounded to exactly 0 (or 1).

    softmax: a_j < tiny (log a_j has slope 1/a_j); sigmoid: a_j(1 − a_j) < tiny, i.e. a_j rounded to
    0 or to 1. For the quadratic cost nothing saturates (∂C/∂a = a − y). Shape of ``a_L``, bool.
    """
    if net.cost_name != "cross_entropy":
        return np.zeros(a_L.shape, dtype=bool)
    tiny = np.finfo(a_L.dtype).tiny
    if net.output == "softmax":
        return a_L < tiny
    return a_L * (1 - a_L) < tiny


BOUNDED = ("sigmoid", "tanh", "softmax")  # activations with asymptotes |a| → 1


def saturation_margin(net: Network, X: Any) -> float:
    """min over every sigmoid, tanh and softmax unit of 1 − |a|: how close any unit is to saturating.

    Where 1 − |a| is small, σ'(z) = a(1 − a), 1 − a² and the softmax Jacobian (and the fused a − y)
    subtract nearly equal numbers: a correct implementation then carries a relative error of about
    ε_mach / (1 − |a|), and two correct implementations disagree by as much. A margin far below
    ε_mach / tolerance explains a failed comparison without any bug (docs/engine.md). 1.0 when the
    network has no bounded activation.
    """
    fp = net.feedforward(X)
    margins = [
        float(np.min(1 - np.abs(a)))
        for name, a in zip(list(net.hidden) + [net.output], fp.activations[1:])
        if name in BOUNDED
    ]
    return min(margins, default=1.0)


def error_scales(
    net: Network, X: Any, t: Gradients
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """The magnitudes of the terms behind every gradient entry: backprop run on absolute values.

    Starting from |δ^L| (the twin's), for ℓ = L … 1:

        m_W^ℓ = m_δ^ℓᵀ |a^(ℓ−1)|      m_b^ℓ = Σ_x m_δ^ℓ_x      m_a^(ℓ−1) = m_δ^ℓ |W^ℓ|
        m_δ^(ℓ−1) = m_a^(ℓ−1) ⊙ |σ'(z^(ℓ−1))|

    This is the standard running bound of floating-point error analysis: each entry's rounding error
    is at most a few ε_mach times its m, whatever cancels. m equals |gradient| when all terms of each
    sum have one sign, so the relative error reduces to max|h − t| / max|t| then; it only differs
    when a sum cancels (a bias gradient summing δs of both signs, a dead unit), where dividing by the
    cancelled result would turn harmless rounding into a huge "relative" error. Returns
    (m_W, m_b, m_δ, m_a) with m_a[ℓ] for ℓ = 0 … L−1, in float64.
    """
    fp = net.feedforward(X)
    L = net.num_layers
    m_w: list[np.ndarray] = [np.empty(0)] * L
    m_b: list[np.ndarray] = [np.empty(0)] * L
    m_delta: list[np.ndarray] = [np.empty(0)] * L
    m_a: list[np.ndarray] = [np.empty(0)] * L
    m = np.abs(np.asarray(t.delta[-1], dtype=np.float64))  # (n, outputs)
    for l in range(L, 0, -1):
        m_delta[l - 1] = m
        a_prev = np.abs(fp.activations[l - 1].astype(np.float64))  # (n, in)
        m_w[l - 1] = m.T @ a_prev  # (out, in)
        m_b[l - 1] = m.sum(axis=0)  # (out,)
        m_a[l - 1] = m @ np.abs(net.weights[l - 1].astype(np.float64))  # (n, in)
        if l > 1:  # hidden layers are element-wise: σ' is a number per unit
            sigma = net.activations[l - 2]
            m = m_a[l - 1] * np.abs(sigma.prime(fp.zs[l - 2], fp.activations[l - 1]).astype(np.float64))
    return m_w, m_b, m_delta, m_a


def compare(
    net: Network,
    X: Any,
    Y: Any,
    *,
    twin: Optional[Any] = None,
    device: Union[str, Any] = "cpu",
    tolerance: Optional[float] = None,
) -> Report:
    """Run the engine and the autograd twin on the same batch and compare every tensor.

    ``twin`` defaults to ``TwinNetwork.from_network(net, device)``. ``tolerance`` defaults to
    ``TOLERANCES[net.dtype.name]``; it applies to the relative error defined in the module docstring.
    """
    from .model import TwinNetwork, twin_gradients  # torch is imported only when comparing

    if twin is None:
        twin = TwinNetwork.from_network(net, device)
    tol = TOLERANCES[net.dtype.name] if tolerance is None else float(tolerance)
    h: Gradients = net.gradients(X, Y)
    t: Gradients = twin_gradients(twin, X, Y, net)
    n = h.nabla_a[0].shape[0]
    report = Report(
        network="-".join(map(str, net.sizes)) + f" {','.join(net.hidden) or '-'}/{net.output}/{net.cost_name}",
        dtype=net.dtype.name,
        batch_size=n,
        tolerance=tol,
    )

    def add(name: str, hv: Any, tv: Any, skip: Optional[np.ndarray] = None, scale: Any = None) -> None:
        hv, tv = np.asarray(hv), np.asarray(tv)
        shape, skipped = hv.shape, 0
        if skip is not None and skip.any():
            skipped = int(skip.sum())
            if not np.isfinite(hv[skip]).all():  # the engine promises finite numbers even there
                report.rows.append(Row(name, shape, math.inf, math.inf, tol, skipped))
                return
            hv, tv = hv[~skip], tv[~skip]
        abs_err, rel_err = relative_error(hv, tv, scale)
        report.rows.append(Row(name, shape, abs_err, rel_err, tol, skipped))

    L = len(h.nabla_w)
    m_w, m_b, m_delta, m_a = error_scales(net, X, t)
    add("C", np.float64(h.cost), np.float64(t.cost))
    add("dC/da0", h.nabla_a[0], t.nabla_a[0], scale=m_a[0])
    output_skip = saturated_outputs(net, net.forward(X))  # (n, outputs)
    for l in range(1, L + 1):  # the math's layer index ℓ; the code's lists are 0-based
        add(f"dC/dW{l}", h.nabla_w[l - 1], t.nabla_w[l - 1], scale=m_w[l - 1])
        add(f"dC/db{l}", h.nabla_b[l - 1], t.nabla_b[l - 1], scale=m_b[l - 1])
        add(f"dC/dz{l}", h.delta[l - 1], t.delta[l - 1], scale=m_delta[l - 1])
        if l < L:
            add(f"dC/da{l}", h.nabla_a[l], t.nabla_a[l], scale=m_a[l])
        else:
            add(f"dC/da{l}", h.nabla_a[l], t.nabla_a[l], skip=output_skip)
    return report


def random_batch(net: Network, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A batch for checking gradients: inputs uniform in [0, 1) like pixels (n, inputs), labels (n,)."""
    X = rng.random((n, net.sizes[0]))  # (n, inputs)
    y = rng.integers(0, net.sizes[-1], n)  # (n,)
    return X, y


def assert_twin_agrees(net: Network, X: Any, Y: Any, **kwargs: Any) -> Report:
    """``compare`` and raise ``GradientMismatch`` naming the tensors that fail (the tests' helper)."""
    return compare(net, X, Y, **kwargs).raise_if_failed()

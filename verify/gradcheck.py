"""Finite differences, the third independent source: ``torch.autograd.gradcheck`` on the engine.

The engine is wrapped as a ``torch.autograd.Function`` whose ``forward`` evaluates the mean cost
with handprop (NumPy) and whose ``backward`` returns handprop's hand-written gradients ∂C/∂x,
∂C/∂W^ℓ, ∂C/∂b^ℓ (times the incoming ``grad_output``). ``gradcheck`` then compares that backward
with torch's own central differences of the forward,

    (C(θ + ε e_i) − C(θ − ε e_i)) / 2ε     for every input and parameter entry θ_i,

entry by entry: |analytic − numeric| ≤ atol + rtol·|numeric|. No autograd graph of the network is
built anywhere, so agreement here is independent of the twin in ``verify.model``.

Only float64 makes sense for finite differences (in float32 the rounding error ε_mach·C/ε swamps
the derivative), so a float32 network is checked on a float64 copy of its parameters.

Tolerance: rtol = 1e-6 is the project's bound. With ε = 1e-6 the truncation error is O(ε²·C''') ≈
1e-12 and the rounding error about ε_mach·|C|/ε ≈ 1e-10·|C|, so ``atol`` = 1e-8 only forgives entries
whose true value is ~0 (where a relative bound means nothing). ReLU networks must keep every
pre-activation further than ε from the kink at 0 for the differences to be meaningful.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch
from torch.autograd.gradcheck import GradcheckError

from handprop import Network

GRADCHECK_EPS = 1e-6
GRADCHECK_RTOL = 1e-6
GRADCHECK_ATOL = 1e-8


class EngineCost(torch.autograd.Function):
    """C(x, W¹, b¹, …, W^L, b^L) computed by handprop; backward = handprop's backprop, not autograd."""

    @staticmethod
    def forward(ctx: Any, net: Network, y: np.ndarray, x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        _load(net, params)
        ctx.net, ctx.y = net, y
        ctx.save_for_backward(x, *params)
        return torch.tensor(net.cost(x.detach().cpu().numpy(), y), dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        x, *params = ctx.saved_tensors
        net: Network = ctx.net
        _load(net, params)  # gradcheck may have evaluated other parameters since forward
        g = net.gradients(x.detach().cpu().numpy(), ctx.y)
        hand = [g.nabla_a[0]] + [t for pair in zip(g.nabla_w, g.nabla_b) for t in pair]
        return (None, None, *(grad_output * torch.from_numpy(a).to(x.device) for a in hand))


def _load(net: Network, params: tuple[torch.Tensor, ...]) -> None:
    """Copy (W¹, b¹, …, W^L, b^L) tensors into ``net`` (``set_parameters`` copies and checks shapes)."""
    arrays = [p.detach().cpu().numpy() for p in params]
    net.set_parameters(arrays[0::2], arrays[1::2])


@dataclass(frozen=True)
class GradcheckResult:
    """gradcheck's verdict on the engine: ``passed``, the first line of torch's message, and the cost."""

    passed: bool
    message: str
    entries: int  # how many input and parameter entries were differenced
    seconds: float
    fast_mode: bool


def engine_gradcheck(
    net: Network,
    X: Any,
    Y: Any,
    *,
    eps: float = GRADCHECK_EPS,
    rtol: float = GRADCHECK_RTOL,
    atol: float = GRADCHECK_ATOL,
    fast_mode: bool = False,
) -> GradcheckResult:
    """Central finite differences of handprop's cost against handprop's backprop, via gradcheck.

    Checks ∂C/∂x and every ∂C/∂W^ℓ, ∂C/∂b^ℓ in float64 (a float32 ``net`` is copied to float64;
    ``net`` itself is never modified). ``fast_mode`` is gradcheck's projected check (a few random
    directions instead of every entry) for networks too large to difference entry by entry.
    """
    work = Network.from_parameters(
        net.weights, net.biases, list(net.hidden), net.output, net.cost_name, dtype="float64"
    )
    x_np, y_np = work.prepare(X, Y)  # validate once; labels become one-hot rows
    x = torch.tensor(x_np, requires_grad=True)
    params = [
        torch.tensor(p, requires_grad=True) for pair in zip(work.weights, work.biases) for p in pair
    ]
    inputs = (x, *params)

    def cost(x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        return EngineCost.apply(work, y_np, x, *params)

    start = time.perf_counter()
    try:
        torch.autograd.gradcheck(cost, inputs, eps=eps, atol=atol, rtol=rtol, fast_mode=fast_mode)
        passed, message = True, f"gradcheck passed (eps={eps:g}, rtol={rtol:g}, atol={atol:g})"
    except GradcheckError as error:
        passed, message = False, str(error).strip().splitlines()[0]
    return GradcheckResult(passed, message, sum(t.numel() for t in inputs), time.perf_counter() - start, fast_mode)

"""The PyTorch twin: the same network as ``torch.nn``, with gradients from autograd.

Built one-to-one from a handprop ``Network``: each ``nn.Linear`` holds ``W^ℓ`` (out, in) and ``b^ℓ``,
the activations and the cost are the torch built-ins, and the cost is the same **mean over the
batch**. Nothing here is differentiated by hand.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from handprop import Gradients, Network

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

TORCH_ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda z: z,
    "softmax": lambda z: torch.softmax(z, dim=1),
}


class TwinNetwork(nn.Module):
    """A ``torch.nn`` network equivalent to a handprop ``Network`` (same sizes, names, cost, dtype)."""

    def __init__(
        self,
        sizes: Sequence[int],
        hidden: Sequence[str],
        output: str,
        cost: str,
        dtype: str = "float64",
        device: Union[str, torch.device] = "cpu",
    ) -> None:
        super().__init__()
        self.sizes = tuple(sizes)
        self.activation_names = list(hidden) + [output]
        self.cost_name = cost
        self.dtype_name = np.dtype(dtype).name
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, dtype=TORCH_DTYPES[self.dtype_name], device=device)
            for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )

    # -- conversion both ways ---------------------------------------------------------------

    @classmethod
    def from_network(cls, net: Network, device: Union[str, torch.device] = "cpu") -> "TwinNetwork":
        """A twin holding copies of ``net``'s parameters."""
        twin = cls(net.sizes, net.hidden, net.output, net.cost_name, net.dtype.name, device)
        twin.load_parameters(net.weights, net.biases)
        return twin

    def load_parameters(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray]) -> None:
        """Copy NumPy weights ``(out, in)`` and biases ``(out,)`` into the layers."""
        with torch.no_grad():
            for layer, W, b in zip(self.layers, weights, biases):
                layer.weight.copy_(torch.as_tensor(np.asarray(W)))
                layer.bias.copy_(torch.as_tensor(np.asarray(b)))

    def to_network(self) -> Network:
        """A handprop ``Network`` holding copies of this twin's parameters."""
        weights = [layer.weight.detach().cpu().numpy() for layer in self.layers]
        biases = [layer.bias.detach().cpu().numpy() for layer in self.layers]
        return Network.from_parameters(
            weights, biases, self.activation_names[:-1], self.activation_names[-1], self.cost_name, self.dtype_name
        )

    @property
    def device(self) -> torch.device:
        return self.layers[0].weight.device

    # -- forward and cost -------------------------------------------------------------------

    def forward_pass(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(zs, activations) as in handprop's ``ForwardPass``: z^ℓ for ℓ = 1…L, a^ℓ for ℓ = 0…L."""
        zs, activations = [], [x]
        a = x
        for layer, name in zip(self.layers, self.activation_names):
            z = layer(a)  # (n, out)
            a = TORCH_ACTIVATIONS[name](z)
            zs.append(z)
            activations.append(a)
        return zs, activations

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_pass(x)[1][-1]

    def cost_from(self, z_L: torch.Tensor, a_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The mean over the batch of the per-example cost, with torch's own stable functions."""
        if self.cost_name == "quadratic":
            return 0.5 * ((a_L - y) ** 2).sum(dim=1).mean()
        if self.activation_names[-1] == "softmax":
            return -(y * F.log_softmax(z_L, dim=1)).sum(dim=1).mean()
        return F.binary_cross_entropy_with_logits(z_L, y, reduction="none").sum(dim=1).mean()

    def output_cost_from_a(self, a_L: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The same mean cost written as a function of the output activations a^L alone.

        Used only to get ∂C/∂a^L from autograd (the stable form above goes through z^L).
        """
        if self.cost_name == "quadratic":
            return 0.5 * ((a_L - y) ** 2).sum(dim=1).mean()
        if self.activation_names[-1] == "softmax":
            return -(y * torch.log(a_L)).sum(dim=1).mean()
        return -(y * torch.log(a_L) + (1 - y) * torch.log1p(-a_L)).sum(dim=1).mean()

    def cost(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        zs, activations = self.forward_pass(x)
        return self.cost_from(zs[-1], activations[-1], y)


def twin_gradients(twin: TwinNetwork, X: np.ndarray, Y: np.ndarray, net: Optional[Network] = None) -> Gradients:
    """Every derivative of the mean cost, from autograd, in handprop's ``Gradients`` layout (NumPy).

    ``Y`` may be labels or one-hot rows; when ``net`` is given its ``prepare`` converts them, so both
    sides see identical arrays.
    """
    reference = net if net is not None else twin.to_network()
    x_np, y_np = reference.prepare(X, Y)
    x = torch.tensor(x_np, device=twin.device, requires_grad=True)
    y = torch.tensor(y_np, device=twin.device)
    twin.zero_grad(set_to_none=True)
    zs, activations = twin.forward_pass(x)
    for t in zs + activations[1:]:
        t.retain_grad()
    cost = twin.cost_from(zs[-1], activations[-1], y)
    cost.backward()

    a_L = activations[-1].detach().clone().requires_grad_(True)
    (grad_a_L,) = torch.autograd.grad(twin.output_cost_from_a(a_L, y), a_L)

    def np_(t: Optional[torch.Tensor], like: torch.Tensor) -> np.ndarray:
        return (t if t is not None else torch.zeros_like(like)).detach().cpu().numpy()

    return Gradients(
        cost=float(cost.item()),
        nabla_w=[np_(layer.weight.grad, layer.weight) for layer in twin.layers],
        nabla_b=[np_(layer.bias.grad, layer.bias) for layer in twin.layers],
        delta=[np_(z.grad, z) for z in zs],
        nabla_a=[np_(a.grad, a) for a in activations[:-1]] + [np_(grad_a_L, a_L)],
    )

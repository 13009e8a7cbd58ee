"""The PyTorch backend of the training loop: the twin network, autograd, and ``torch.optim.SGD``.

It implements ``handprop.backend.Backend`` (and builds on no other backend) with the same update as the NumPy engine,
``W ← (1 − ηλ/n) W − η ∂C/∂W`` and ``b ← b − η ∂C/∂b``: SGD's ``weight_decay`` adds (λ/n)·W to
the gradient, which is the same step, and it is set on the weights' parameter group only, so biases
are not decayed. The training set lives on the device as one tensor; each batch is gathered there
with ``index_select`` (no per-item ``DataLoader``).

Subnormal numbers: once sigmoids saturate, the backward pass produces subnormal floats; with
torch's default two CPU threads, float64 steps of the default network then became 5–25× slower,
and flushing subnormals kept them fast (docs/training.md; one thread showed no slowdown at all).
On the CPU the backend therefore flushes subnormals to zero during its own steps
(``torch.set_flush_denormal``), and switches that off again after each step so NumPy code in the same
thread keeps IEEE behaviour. The values flushed are below 2.2e-308 (float64) or 1.2e-38 (float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from handprop import Network
from handprop.backend import step_each

from .model import TwinNetwork


def resolve_device(device: str) -> torch.device:
    """'cpu' or 'cuda' (or 'cuda:N') as a torch device; a clear error when CUDA is absent."""
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; expected cpu or cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device} asked for, but PyTorch sees no CUDA GPU on this machine; use --device cpu")
    return torch.device(device)


class TorchBackend:
    """The twin network trained with autograd gradients (see ``handprop.backend.Backend``)."""

    name = "torch"

    def __init__(
        self, net: Network, lr: float, l2: float = 0.0, device: str = "cpu", flush_denormal: bool = True
    ) -> None:
        self.device = resolve_device(device)
        self.twin = TwinNetwork.from_network(net, self.device)
        self.lr = float(lr)
        self.l2 = float(l2)
        self._flush_denormal = flush_denormal and self.device.type == "cpu"  # see the module docstring
        self.optimizer: torch.optim.Optimizer = torch.optim.SGD(self._groups(0.0), lr=self.lr)
        self._x: torch.Tensor = torch.empty(0)
        self._y: torch.Tensor = torch.empty(0)
        self._order: torch.Tensor = torch.empty(0)

    def _groups(self, weight_decay: float) -> list[dict[str, Any]]:
        weights = [layer.weight for layer in self.twin.layers]
        biases = [layer.bias for layer in self.twin.layers]
        return [{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}]

    def load_training_data(self, x: np.ndarray, y: np.ndarray) -> None:
        dtype = self.twin.layers[0].weight.dtype
        self._x = torch.as_tensor(np.asarray(x), device=self.device).to(dtype)  # (n, in)
        self._y = torch.as_tensor(np.asarray(y), device=self.device).to(dtype)  # (n, out)
        # SGD adds weight_decay·W to the gradient: η(∇ + (λ/n)W) is the (1 − ηλ/n) decay
        self.optimizer = torch.optim.SGD(self._groups(self.l2 / self._x.shape[0]), lr=self.lr)

    def begin_epoch(self, order: np.ndarray) -> None:
        self._order = torch.as_tensor(order, device=self.device)

    def _batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._order[start:stop]
        return self._x.index_select(0, index), self._y.index_select(0, index)

    def steps(self, start: int, stop: int, batch_size: int) -> Any:
        return step_each(self, start, stop, batch_size)  # the cost stays a tensor on the device until read

    def step(self, start: int, stop: int) -> torch.Tensor:
        x, y = self._batch(start, stop)
        if self._flush_denormal:
            torch.set_flush_denormal(True)
        try:
            self.optimizer.zero_grad(set_to_none=True)
            cost = self.twin.cost(x, y)  # the mean cost over the batch
            cost.backward()
            self.optimizer.step()
            return cost.detach()  # left on the device: the loop checks it once per window
        finally:
            if self._flush_denormal:
                torch.set_flush_denormal(False)

    @torch.no_grad()
    def batch_cost(self, start: int, stop: int) -> float:
        return float(self.twin.cost(*self._batch(start, stop)).item())

    def parameters(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights = [layer.weight.detach().cpu().numpy().copy() for layer in self.twin.layers]
        biases = [layer.bias.detach().cpu().numpy().copy() for layer in self.twin.layers]
        return weights, biases

    def set_parameters(self, weights: list[np.ndarray], biases: list[np.ndarray]) -> None:
        self.twin.load_parameters(weights, biases)  # copies into the existing tensors (and device)

    @torch.no_grad()
    def parameters_finite(self) -> bool:
        total = sum(p.sum() for p in self.twin.parameters())  # NaN and inf propagate; one sync
        return bool(torch.isfinite(total).item())

    @torch.no_grad()
    def snapshot(self) -> Any:
        return [p.detach().clone() for p in self.twin.parameters()]

    @torch.no_grad()
    def restore(self, snapshot: Any) -> None:
        for p, saved in zip(self.twin.parameters(), snapshot):
            p.copy_(saved)

    @torch.no_grad()
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        dtype = self.twin.layers[0].weight.dtype
        total, predictions = 0.0, []
        chunk = 10_000
        for start in range(0, x.shape[0], chunk):
            xb = torch.as_tensor(x[start : start + chunk], device=self.device).to(dtype)
            yb = torch.as_tensor(y[start : start + chunk], device=self.device).to(dtype)
            zs, activations = self.twin.forward_pass(xb)
            total += float(self.twin.cost_from(zs[-1], activations[-1], yb).item()) * xb.shape[0]
            predictions.append(activations[-1].argmax(dim=1).cpu().numpy())
        return total / x.shape[0], np.concatenate(predictions)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def prepare(self) -> None:
        return None  # autograd builds its graph as it goes: nothing to compile ahead

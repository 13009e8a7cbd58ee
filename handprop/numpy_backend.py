"""The NumPy backend: the reference engine's own steps (``Network.cost_and_backprop_prepared``).

It implements ``handprop.backend.Backend`` with the update of ``handprop.training``'s docstring,

    W ← (1 − ηλ/n) W − η ∂C/∂W        b ← b − η ∂C/∂b

done in place on the network's arrays, so no new parameter arrays are made per step.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .backend import CheckedInputs, Array, Parameters, all_finite, copy_into, copy_parameters, evaluate_network, network_cost
from .network import Network


class HandpropBackend:
    """The hand-written NumPy engine: ``Network.cost_and_backprop_prepared`` and an in-place SGD update."""

    name = "handprop"
    engine = "numpy"

    def __init__(self, net: Network, lr: float, l2: float = 0.0) -> None:
        self._checked = CheckedInputs()  # the arrays evaluate() has checked
        self.net = net
        self.lr = float(lr)
        self.l2 = float(l2)
        self.decay = 1.0
        self._x: Optional[Array] = None
        self._y: Optional[Array] = None
        self._order: Optional[Array] = None

    def load_training_data(self, x: Array, y: Array) -> None:
        self._x, self._y = self.net.prepare(x, y)
        self._checked = CheckedInputs()  # evaluate() need not check the training set again
        self._checked.remember(x, self._x)  # checked and converted once, not per batch
        self.decay = 1.0 - self.lr * self.l2 / self._x.shape[0]  # (1 − ηλ/n)

    def begin_epoch(self, order: Array) -> None:
        self._order = order

    def steps(self, start: int, stop: int, batch_size: int) -> float:
        window = 0.0
        for first in range(start, stop, batch_size):
            window = window + self.step(first, min(first + batch_size, stop))
        return window

    def step(self, start: int, stop: int) -> float:
        index = self._order[start:stop]
        # η∂C/∂W and η∂C/∂b in one go: the engine scales δ^L by η (see cost_and_backprop_prepared)
        cost, eta_nabla_w, eta_nabla_b = self.net.cost_and_backprop_prepared(
            self._x[index], self._y[index], scale=self.lr
        )
        for W, b, step_w, step_b in zip(self.net.weights, self.net.biases, eta_nabla_w, eta_nabla_b):
            if self.decay != 1.0:
                W *= self.decay  # L2 weight decay; biases are not decayed
            W -= step_w  # in place: no new parameter arrays per step
            b -= step_b
        return cost

    def batch_cost(self, start: int, stop: int) -> float:
        index = self._order[start:stop]
        return network_cost(self.net, self._x[index], self._y[index])

    def parameters(self) -> Parameters:
        return copy_parameters(self.net)

    def set_parameters(self, weights: Sequence[Array], biases: Sequence[Array]) -> None:
        copy_into(self.net, (list(weights), list(biases)))

    def parameters_finite(self) -> bool:
        return all_finite(self.net.weights + self.net.biases)

    def snapshot(self) -> Any:
        return copy_parameters(self.net)

    def restore(self, snapshot: Any) -> None:
        copy_into(self.net, snapshot)

    def evaluate(self, x: Array, y: Array) -> tuple[float, Array]:
        return evaluate_network(self.net, x, y, self._checked)

    def synchronize(self) -> None:
        pass

    def prepare(self) -> None:
        return None  # NumPy has nothing to compile

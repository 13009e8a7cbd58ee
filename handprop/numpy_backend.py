"""The NumPy backend: the reference engine's own steps (``Network.cost_and_backprop_prepared``).

It implements ``handprop.backend.Backend`` with the update of ``handprop.training``'s docstring,

    W ← (1 − ηλ/n) W − η ∂C/∂W        b ← b − η ∂C/∂b

done in place on the network's arrays, so no new parameter arrays are made per step.
"""

from __future__ import annotations

from typing import Optional

from .backend import Array, NetworkArrays, all_finite, step_each
from .network import Network


class HandpropBackend(NetworkArrays):
    """The hand-written NumPy engine: ``Network.cost_and_backprop_prepared`` and an in-place SGD update."""

    name = "handprop"
    engine = "numpy"

    def __init__(self, net: Network, lr: float, l2: float = 0.0) -> None:
        super().__init__(net, lr, l2)
        self._x: Optional[Array] = None
        self._y: Optional[Array] = None
        self._order: Optional[Array] = None

    def load_training_data(self, x: Array, y: Array) -> None:
        self._keep_training_data(x, y)

    def begin_epoch(self, order: Array) -> None:
        self._order = order

    def steps(self, start: int, stop: int, batch_size: int) -> float:
        return step_each(self, start, stop, batch_size)

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

    def parameters_finite(self) -> bool:
        return all_finite(self.net.weights + self.net.biases)


    def prepare(self) -> None:
        return None  # NumPy has nothing to compile

"""What a training backend is: the few operations the training loop asks of an engine.

Three backends implement ``Backend``, each in its own module and none built on another:

    handprop.numpy_backend.HandpropBackend   the reference engine's own steps (``network.py``)
    handprop.compiled.CompiledBackend        the same steps compiled with Numba (a speed path)
    verify.backend.TorchBackend              the PyTorch twin, autograd and ``torch.optim.SGD``

``handprop.backends`` chooses one by name; ``handprop.training`` drives any of them through this
protocol alone. This module is the floor they stand on: it imports nothing from handprop.

The two backends whose parameters are a ``Network``'s NumPy arrays share the helpers at the end
(evaluation in chunks, the cost of one batch, copies of the parameters); they take the network as
an argument and use only its public methods, so this module needs no import of ``network.py``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from .checks import is_finite_array

Array = np.ndarray
Parameters = tuple[list[Array], list[Array]]  # weights (out, in) and biases (out,), one per layer

EVAL_CHUNK = 10_000  # examples per forward pass when evaluating (bounds memory for wide layers)


class Backend(Protocol):
    """What the training loop needs from an engine; every backend implements exactly this."""

    name: str

    def load_training_data(self, x: Array, y: Array) -> None:
        """Keep the training set (inputs (n, in), one-hot targets (n, out)) for ``steps``."""

    def begin_epoch(self, order: Array) -> None:
        """This epoch's permutation of the training set (n,): batch k is order[k·m:(k+1)·m]."""

    def steps(self, start: int, stop: int, batch_size: int) -> Any:
        """SGD on order[start:stop] in mini-batches of ``batch_size``: a window of batches.

        Returns the sum of the batches' mean costs, a float or a 0-d tensor still on the device
        (``float()`` must accept it; NaN and inf survive the sum, which is all the loop checks).
        """

    def step(self, start: int, stop: int) -> Any:
        """One SGD step on the examples order[start:stop]; returns that batch's mean cost."""

    def batch_cost(self, start: int, stop: int) -> float:
        """The mean cost of the examples order[start:stop] (only used to locate a NaN)."""

    def parameters(self) -> Parameters:
        """Copies of the weights (out, in) and biases (out,) as NumPy arrays."""

    def set_parameters(self, weights: Sequence[Array], biases: Sequence[Array]) -> None:
        """Overwrite the parameters with (copies of) NumPy arrays."""

    def parameters_finite(self) -> bool: ...

    def snapshot(self) -> Any:
        """An opaque copy of the parameters, for ``restore``."""

    def restore(self, snapshot: Any) -> None: ...

    def evaluate(self, x: Array, y: Array) -> tuple[float, Array]:
        """(mean cost, predicted classes (n,)) on inputs (n, in) with one-hot targets (n, out)."""

    def synchronize(self) -> None:
        """Wait for queued work (CUDA), so wall-clock timings are honest."""

    def prepare(self) -> Optional[tuple[str, Callable[[], None]]]:
        """What this backend must do before its first step that takes a while, as (what it waits for,
        in words; the work), or None. The work touches none of the backend's state, so it may run in a
        thread while the data load (the compiled engine's first compile on a machine)."""


# ---------------------------------------------------------------------------------------------
# helpers for the backends whose parameters are a Network's NumPy arrays (NumPy and compiled)


def copy_parameters(net: Any) -> Parameters:
    """Copies of ``net``'s weights (out, in) and biases (out,)."""
    return [W.copy() for W in net.weights], [b.copy() for b in net.biases]


def copy_into(net: Any, parameters: Parameters) -> None:
    """Overwrite ``net``'s parameter arrays in place (views stay views) with ``parameters``."""
    for W, b, W0, b0 in zip(net.weights, net.biases, *parameters):
        W[...] = W0
        b[...] = b0


def all_finite(arrays: Sequence[Array]) -> bool:
    """True when no entry is NaN or infinite: one sum per array, far cheaper than isfinite(W).all()."""
    return all(is_finite_array(p) for p in arrays)


def network_cost(net: Any, x: Array, y: Array) -> float:
    """Mean cost of a prepared batch, without the overflow warnings of a diverged network."""
    with np.errstate(all="ignore"):
        fp = net.feedforward(x)
        return net.cost_function.value(fp.zs[-1], fp.output, y, net.activations[-1])


def step_each(backend: Backend, start: int, stop: int, batch_size: int) -> Any:
    """``Backend.steps`` by one ``step`` per mini-batch of order[start:stop]: the sum of their mean costs
    (for the backends whose steps are not fused into one call)."""
    window: Any = 0.0  # a float, or a tensor still on the device: no synchronisation per batch
    for first in range(start, stop, batch_size):
        window = window + backend.step(first, min(first + batch_size, stop))
    return window


class CheckedInputs:
    """The arrays a backend evaluates, each checked (finite, shape, dtype) once: the trainer evaluates
    the same training and test arrays after every epoch, and the check cost half an evaluation."""

    def __init__(self) -> None:
        self._seen: list[tuple[Array, Array]] = []  # (the array given, the checked one)

    def remember(self, given: Array, ready: Array) -> None:
        """``ready`` is ``given`` already checked (the training set, by ``Network.prepare``)."""
        self._seen.append((given, ready))
        del self._seen[:-2]  # the training and the test set

    def __call__(self, net: Any, x: Array) -> Array:
        for given, ready in self._seen:
            if given is x:
                return ready
        ready = net.checked_inputs(x)
        self.remember(x, ready)
        return ready


def evaluate_network(net: Any, x: Array, y: Array, inputs: Optional[CheckedInputs] = None) -> tuple[float, Array]:
    """(mean cost, predicted classes (n,)) of ``net`` on x (n, in), y (n, out), ``EVAL_CHUNK`` rows at a time.
    With ``inputs``, x is checked through it (once per array) instead of once per chunk and call."""
    x = inputs(net, x) if inputs is not None else net.checked_inputs(x)
    costs, predictions = [], []
    for start in range(0, x.shape[0], EVAL_CHUNK):
        fp = net._forward(x[start : start + EVAL_CHUNK])  # checked above
        chunk_y = y[start : start + EVAL_CHUNK]
        out = net.activations[-1]
        costs.append(net.cost_function.per_example(fp.zs[-1], fp.output, chunk_y, out))  # (chunk,)
        predictions.append(fp.output.argmax(axis=1))
    return float(np.concatenate(costs).mean()), np.concatenate(predictions)


class NetworkArrays:
    """What the two backends whose parameters are a ``Network``'s NumPy arrays (the NumPy engine and
    the compiled engine) do alike: keep the checked training set, the L2 decay factor, and read,
    copy, restore and evaluate the network's parameters. Each backend keeps its own steps."""

    net: Any
    lr: float
    l2: float
    _x: Any
    _y: Any
    _order: Any
    _checked: Optional[CheckedInputs] = None  # set with the training set

    def __init__(self, net: Any, lr: float, l2: float = 0.0) -> None:
        self.net = net
        self.lr = float(lr)
        self.l2 = float(l2)
        self.decay = 1.0  # (1 − ηλ/n), set with the training set

    def _keep_training_data(self, x: Array, y: Array) -> None:
        """x (n, in) and y (n, out) checked and converted once (``Network.prepare``), not per batch; the
        training set is then never checked again by ``evaluate``; the decay factor (1 − ηλ/n)."""
        self._x, self._y = self.net.prepare(x, y)
        self._checked = CheckedInputs()
        self._checked.remember(x, self._x)
        self.decay = 1.0 - self.lr * self.l2 / self._x.shape[0]

    def batch_cost(self, start: int, stop: int) -> float:
        index = self._order[start:stop]
        return network_cost(self.net, self._x[index], self._y[index])

    def parameters(self) -> Parameters:
        return copy_parameters(self.net)

    def set_parameters(self, weights: Sequence[Array], biases: Sequence[Array]) -> None:
        copy_into(self.net, (list(weights), list(biases)))  # in place: views of the arrays stay views

    def snapshot(self) -> Any:
        return copy_parameters(self.net)

    def restore(self, snapshot: Any) -> None:
        copy_into(self.net, snapshot)

    def evaluate(self, x: Array, y: Array) -> tuple[float, Array]:
        return evaluate_network(self.net, x, y, self._checked)

    def synchronize(self) -> None:
        pass  # the CPU's work is done when a call returns

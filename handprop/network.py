"""The network: parameters, the forward pass, and backpropagation written out by hand.

Notation (the README's notation key has the full table). Layers are numbered ℓ = 0 (input) … L
(output); the code's lists are 0-based over the weight layers, so

    weights[ℓ-1] = W^ℓ    shape (out, in), like torch.nn.Linear.weight
    biases[ℓ-1]  = b^ℓ    shape (out,)
    zs[ℓ-1]      = z^ℓ = a^(ℓ-1) W^ℓᵀ + b^ℓ     pre-activations, (n, out)
    activations[ℓ] = a^ℓ = σ(z^ℓ)               activations[0] is the input x, (n, in)
    delta[ℓ-1]   = δ^ℓ = ∂C/∂z^ℓ

Arrays are batch-first: one row per example. The cost C is the **mean over the batch** of the
per-example cost C_x, and every gradient returned by ``backprop`` and ``gradients`` is a gradient of
that mean. The four equations of backpropagation, vectorised over the batch:

    BP1  δ^L = ∇_a C ⊙ σ'(z^L)                (``cost.delta``, divided by n for the mean)
    BP2  δ^ℓ = (δ^(ℓ+1) W^(ℓ+1)) ⊙ σ'(z^ℓ)      (``activation.backward`` of ∂C/∂a^ℓ = δ^(ℓ+1) W^(ℓ+1))
    BP3  ∂C/∂b^ℓ = Σ_x δ^ℓ_x                   (``delta.sum(axis=0)``)
    BP4  ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ-1)                (``delta.T @ a_prev``)
"""

from __future__ import annotations

import copy as _copy
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from .activations import Activation, get_activation
from .checks import as_dtype, as_real_array, cast_finite, check_inputs, check_parameter_memory, check_seed, check_targets
from .costs import Cost, get_cost
from .init import initial_parameters

logger = logging.getLogger(__name__)

Array = np.ndarray


@dataclass
class ForwardPass:
    """What the forward pass keeps for backprop: z^ℓ for ℓ = 1…L and a^ℓ for ℓ = 0…L."""

    zs: list[Array]  # zs[ℓ-1] = z^ℓ, (n, sizes[ℓ])
    activations: list[Array]  # activations[ℓ] = a^ℓ, (n, sizes[ℓ]); activations[0] = x

    @property
    def output(self) -> Array:
        return self.activations[-1]


@dataclass
class Gradients:
    """Every derivative of the batch-mean cost C for one batch.

    ``nabla_w[ℓ-1]`` = ∂C/∂W^ℓ (out, in); ``nabla_b[ℓ-1]`` = ∂C/∂b^ℓ (out,);
    ``delta[ℓ-1]`` = δ^ℓ = ∂C/∂z^ℓ (n, out); ``nabla_a[ℓ]`` = ∂C/∂a^ℓ (n, units) for ℓ = 0…L, so
    ``nabla_a[0]`` is the gradient with respect to the input and ``nabla_a[-1]`` to the output.
    Because C is a mean, row x of ``delta`` and ``nabla_a`` is 1/n times example x's own gradient.
    """

    cost: float
    nabla_w: list[Array]
    nabla_b: list[Array]
    delta: list[Array]
    nabla_a: list[Array]


@dataclass
class PerExampleGradients:
    """Gradients of each example's own cost C_x (not divided by n), for a batch of n examples.

    ``cost`` (n,) holds C_x; ``nabla_w[ℓ-1]`` (n, out, in), ``nabla_b[ℓ-1]`` (n, out),
    ``delta[ℓ-1]`` (n, out) and ``nabla_a[ℓ]`` (n, units) hold ∂C_x/∂W^ℓ, ∂C_x/∂b^ℓ, ∂C_x/∂z^ℓ_x,
    ∂C_x/∂a^ℓ_x. Their mean over axis 0 is the batch gradient (for ``nabla_w``, ``nabla_b``).
    """

    cost: Array
    nabla_w: list[Array]
    nabla_b: list[Array]
    delta: list[Array]
    nabla_a: list[Array]


class Network:
    """A fully connected feed-forward network with hand-written backpropagation.

    >>> net = Network([784, 16, 16, 10], hidden="sigmoid", output="sigmoid",
    ...               cost="quadratic", init="normal", dtype="float64", seed=0)
    >>> [w.shape for w in net.weights]
    [(16, 784), (16, 16), (10, 16)]

    ``hidden`` names the activation of every hidden layer, or gives one name per hidden layer.
    ``seed`` is an int or a ``numpy.random.Generator``; the global random state is never used.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        hidden: Union[str, Sequence[str]] = "sigmoid",
        output: str = "sigmoid",
        cost: str = "quadratic",
        init: str = "normal",
        dtype: Any = "float64",
        seed: Union[int, np.random.Generator] = 0,
    ) -> None:
        self.sizes = _check_sizes(sizes)
        self.cost_name = cost
        self.cost_function: Cost = get_cost(cost, output)  # before the activations: it names the outputs it fits
        self.dtype = as_dtype(dtype)
        rng = check_seed(seed)
        check_parameter_memory(self.sizes, self.dtype)  # before allocating: a clear error, not MemoryError
        L = len(self.sizes) - 1
        if isinstance(hidden, str):
            get_activation(hidden)  # check the name even when there is no hidden layer to use it
            hidden_names = [hidden] * (L - 1)
        elif isinstance(hidden, (list, tuple)) and all(isinstance(h, str) for h in hidden):
            hidden_names = list(hidden)
            if len(hidden_names) != L - 1:
                raise ValueError(
                    f"hidden lists {len(hidden_names)} activations but the network has {L - 1} hidden layers"
                )
        else:
            raise TypeError(f"hidden must be an activation name or a list of names, got {hidden!r}")
        self.hidden = tuple(hidden_names)
        self.output = output
        self.activations: list[Activation] = [get_activation(h) for h in hidden_names]
        self.activations.append(get_activation(output, output=True))
        self.init = init
        self.weights, self.biases = initial_parameters(self.sizes, init, rng, self.dtype)
        logger.debug("built network %s", self)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_parameters(
        cls,
        weights: Sequence[Any],
        biases: Sequence[Any],
        hidden: Union[str, Sequence[str]] = "sigmoid",
        output: str = "sigmoid",
        cost: str = "quadratic",
        dtype: Any = None,
    ) -> "Network":
        """A network holding copies of the given weights ``(out, in)`` and biases ``(out,)``.

        The dtype defaults to that of the first weight matrix.
        """
        for name, given in (("weights", weights), ("biases", biases)):
            if not isinstance(given, (list, tuple)):
                raise TypeError(f"{name} must be a list with one array per layer, got {type(given).__name__}")
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError(
                f"expected one bias vector per weight matrix and at least one layer, "
                f"got {len(weights)} weight matrices and {len(biases)} bias vectors"
            )
        ws = [as_real_array(w, f"weights[{i}]", " shaped (out, in)") for i, w in enumerate(weights)]
        for i, w in enumerate(ws):
            if w.ndim != 2:
                raise ValueError(f"weights[{i}] must be a 2-D array shaped (out, in), got shape {w.shape}")
        if dtype is None:
            dtype = ws[0].dtype if ws[0].dtype.name in ("float32", "float64") else "float64"
        sizes = [ws[0].shape[1] if ws[0].ndim == 2 else -1] + [w.shape[0] for w in ws]
        net = cls(_check_sizes(sizes), hidden=hidden, output=output, cost=cost, dtype=dtype, seed=0)
        net.set_parameters(ws, biases)
        return net

    def set_parameters(self, weights: Sequence[Any], biases: Sequence[Any]) -> None:
        """Replace the parameters by copies of ``weights`` and ``biases``, checking every shape.

        Each must be a list with one real, finite array per layer: ``weights[ℓ-1]`` shaped (out, in)
        and ``biases[ℓ-1]`` shaped (out,), cast to the network's dtype.
        """
        shapes = [(W.shape, b.shape) for W, b in zip(self.weights, self.biases)]
        for name, given, which in (("weights", weights, 0), ("biases", biases, 1)):
            if not isinstance(given, (list, tuple)):
                expected = ", ".join(str(s[which]) for s in shapes)
                raise TypeError(f"{name} must be a list of {len(shapes)} arrays shaped {expected}, got {type(given).__name__}")
        if len(weights) != len(self.weights) or len(biases) != len(self.biases):
            raise ValueError(
                f"expected {len(self.weights)} weight matrices and {len(self.biases)} bias vectors, "
                f"got {len(weights)} and {len(biases)}"
            )
        new_w, new_b = [], []
        for i, (w, b, (w_shape, b_shape)) in enumerate(zip(weights, biases, shapes)):
            w = as_real_array(w, f"weights[{i}]", f" of shape {w_shape}")
            b = as_real_array(b, f"biases[{i}]", f" of shape {b_shape}")
            if w.shape != w_shape or b.shape != b_shape:
                raise ValueError(
                    f"layer {i + 1}: expected weights {w_shape} and biases {b_shape}, got {w.shape} and {b.shape}"
                )
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {i + 1}: parameters contain NaN or infinite values")
            new_w.append(cast_finite(w, self.dtype, f"weights[{i}]").copy())
            new_b.append(cast_finite(b, self.dtype, f"biases[{i}]").copy())
        self.weights, self.biases = new_w, new_b

    def copy(self) -> "Network":
        """An independent copy: the same configuration, the parameters copied (nothing re-checked)."""
        twin = _copy.copy(self)  # the activations and cost are shared: fixed descriptions, never mutated
        twin.activations = list(self.activations)
        twin.weights = [W.copy() for W in self.weights]  # (out, in), C order even from a view
        twin.biases = [b.copy() for b in self.biases]
        return twin

    def config(self) -> dict[str, Any]:
        """The architecture as plain data: sizes, activation and cost names, dtype."""
        return {
            "sizes": list(self.sizes),
            "hidden": list(self.hidden),
            "output": self.output,
            "cost": self.cost_name,
            "dtype": self.dtype.name,
        }

    @property
    def num_layers(self) -> int:
        """L: the number of weight layers (the input layer is not counted)."""
        return len(self.weights)

    def __repr__(self) -> str:
        arch = "-".join(map(str, self.sizes))
        hidden = ",".join(self.hidden) if len(set(self.hidden)) > 1 else (self.hidden[0] if self.hidden else "-")
        return (
            f"Network({arch}, hidden={hidden}, output={self.output}, cost={self.cost_name}, "
            f"dtype={self.dtype.name})"
        )

    # -- validation ---------------------------------------------------------------------------

    def prepare(self, X: Any, Y: Any) -> tuple[Array, Array]:
        """Check and convert a batch once: X → (n, inputs), Y (one-hot rows or labels) → (n, outputs).

        Both come back in the network's dtype. Use it before a loop over ``backprop_prepared``.
        """
        x = check_inputs(X, self.sizes[0], self.dtype)
        y = check_targets(
            Y, x.shape[0], self.sizes[-1], self.dtype, probabilities=self.cost_name == "cross_entropy"
        )
        return x, y

    # -- forward ------------------------------------------------------------------------------

    def feedforward(self, X: Any) -> ForwardPass:
        """z^ℓ = a^(ℓ-1) W^ℓᵀ + b^ℓ and a^ℓ = σ(z^ℓ) for every layer, keeping both for backprop."""
        return self._forward(self.checked_inputs(X))

    def checked_inputs(self, X: Any) -> Array:
        """X checked (finite, (n, inputs)) and in the network's dtype: what ``feedforward`` runs on."""
        return check_inputs(X, self.sizes[0], self.dtype)

    def _forward(self, x: Array) -> ForwardPass:
        zs, activations = [], [x]
        a = x  # (n, in)
        for W, b, sigma in zip(self.weights, self.biases, self.activations):
            z = a @ W.T + b  # (n, out)
            a = sigma(z)  # (n, out)
            zs.append(z)
            activations.append(a)
        return ForwardPass(zs, activations)

    def forward(self, X: Any) -> Array:
        """The output activations a^L, shape (n, outputs)."""
        return self.feedforward(X).output

    def predict(self, X: Any) -> Array:
        """The predicted class of each example: argmax_j a^L_j, shape (n,)."""
        return self.forward(X).argmax(axis=1)

    def cost(self, X: Any, Y: Any) -> float:
        """C = (1/n) Σ_x C_x: the **mean** over the batch of the per-example cost."""
        x, y = self.prepare(X, Y)
        fp = self._forward(x)
        return self.cost_function.value(fp.zs[-1], fp.output, y, self.activations[-1])

    # -- backward -----------------------------------------------------------------------------

    def _output_delta(self, fp: ForwardPass, y: Array) -> Array:
        """BP1 for each example: δ^L_x = ∂C_x/∂z^L = ∇_a C_x ⊙ σ'(z^L), before dividing by n."""
        return self.cost_function.delta(fp.zs[-1], fp.output, y, self.activations[-1])  # (n, out)

    def _backward(self, fp: ForwardPass, delta_L: Array) -> tuple[list[Array], list[Array]]:
        """BP2, from the output error δ^L down to layer 1.

        Returns ``delta`` = [δ^1 … δ^L] and the hidden layers' gradients
        [∂C/∂a^1 … ∂C/∂a^(L-1)], which BP2 computes on the way down.
        """
        delta = [delta_L]  # δ^L first; reversed at the end
        nabla_a: list[Array] = []
        for l in range(self.num_layers, 1, -1):  # ℓ = L … 2, numbered as in the math
            grad_a = delta[-1] @ self.weights[l - 1]  # ∂C/∂a^(ℓ-1) = δ^ℓ W^ℓ, (n, sizes[ℓ-1])
            delta.append(self.activations[l - 2].backward(grad_a, fp.zs[l - 2], fp.activations[l - 1]))  # BP2: δ^(ℓ-1)
            nabla_a.append(grad_a)
        return delta[::-1], nabla_a[::-1]

    def _delta_and_nabla_a(self, fp: ForwardPass, y: Array, n: int) -> tuple[list[Array], list[Array]]:
        """δ^ℓ for ℓ = 1…L and ∂C/∂a^ℓ for ℓ = 0…L, for the cost Σ_x C_x / n.

        n = batch size gives the batch's mean cost; n = 1 gives each example's own C_x in its row.
        """
        delta, nabla_a_hidden = self._backward(fp, self._output_delta(fp, y) / n)  # BP1, BP2
        nabla_a = [
            delta[0] @ self.weights[0],  # ∂C/∂a^0 = δ^1 W^1, the input's gradient, (n, inputs)
            *nabla_a_hidden,
            self.cost_function.grad_a(fp.output, y, self.activations[-1]) / n,  # ∂C/∂a^L, (n, outputs)
        ]
        return delta, nabla_a

    @staticmethod
    def _parameter_gradients(delta: list[Array], activations: list[Array]) -> tuple[list[Array], list[Array]]:
        """BP3 and BP4 for every layer, from δ^ℓ and a^(ℓ-1)."""
        nabla_b = [d.sum(axis=0) for d in delta]  # BP3: ∂C/∂b^ℓ = Σ_x δ^ℓ_x, (out,)
        nabla_w = [d.T @ a for d, a in zip(delta, activations)]  # BP4: ∂C/∂W^ℓ = δ^ℓᵀ a^(ℓ-1), (out, in)
        return nabla_w, nabla_b

    def _batch_gradients(self, fp: ForwardPass, y: Array, scale: float = 1.0) -> tuple[list[Array], list[Array]]:
        """(s·∂C/∂W^ℓ, s·∂C/∂b^ℓ) of the batch's mean cost C, s = ``scale``."""
        n = fp.activations[0].shape[0]
        delta_L = self._output_delta(fp, y) / (n / scale)  # BP1 for the mean (÷ n), times s, (n, out)
        delta, _ = self._backward(fp, delta_L)
        return self._parameter_gradients(delta, fp.activations)

    def backprop_prepared(self, x: Array, y: Array) -> tuple[list[Array], list[Array]]:
        """``backprop`` for arrays already checked by ``prepare`` (the training loop's fast path)."""
        return self._batch_gradients(self._forward(x), y)

    def cost_and_backprop_prepared(
        self, x: Array, y: Array, scale: float = 1.0
    ) -> tuple[float, list[Array], list[Array]]:
        """(C, s·∂C/∂W^ℓ, s·∂C/∂b^ℓ) from one forward pass: the batch's mean cost and scaled gradients.

        The training loop uses the cost to stop on NaN or inf without a second forward pass, and
        passes the learning rate as ``scale`` s: every gradient is linear in δ^L, so scaling δ^L once
        gives η∇ for all layers and the SGD step is one subtraction per parameter array (Nielsen's
        ``eta / len(mini_batch)``, applied once).
        """
        fp = self._forward(x)
        cost = self.cost_function.value(fp.zs[-1], fp.output, y, self.activations[-1])
        return (cost, *self._batch_gradients(fp, y, scale))

    def backprop(self, X: Any, Y: Any) -> tuple[list[Array], list[Array]]:
        """(∂C/∂W^ℓ, ∂C/∂b^ℓ) for every layer, C being the mean cost over the batch.

        Shapes match ``weights`` and ``biases``. ``Y`` holds one-hot rows (n, outputs) or integer
        labels (n,).
        """
        return self.backprop_prepared(*self.prepare(X, Y))

    def gradients(self, X: Any, Y: Any) -> Gradients:
        """Every derivative of the mean cost: weights, biases, pre-activations and activations."""
        x, y = self.prepare(X, Y)
        fp = self._forward(x)
        n = x.shape[0]
        out = self.activations[-1]
        cost = self.cost_function.value(fp.zs[-1], fp.output, y, out)
        delta, nabla_a = self._delta_and_nabla_a(fp, y, n)  # BP1 for the mean, BP2
        nabla_w, nabla_b = self._parameter_gradients(delta, fp.activations)  # BP3, BP4
        return Gradients(cost, nabla_w, nabla_b, delta, nabla_a)

    # -- per-example gradients ----------------------------------------------------------------

    def per_example_gradients(self, X: Any, Y: Any) -> PerExampleGradients:
        """Each example's own gradient, for the whole batch at once (no loop over examples).

        Memory: the weight gradients take n · Σ_ℓ out_ℓ · in_ℓ numbers, e.g. 12,960 per example for
        784-16-16-10, so about 104 KB per example in float64 (6.2 GB for all 60,000 MNIST training
        images). Use ``iter_per_example_gradients`` with a ``chunk_size`` for large batches.
        """
        x, y = self.prepare(X, Y)
        return self._per_example(x, y)

    def iter_per_example_gradients(
        self, X: Any, Y: Any, chunk_size: int = 1000
    ) -> Iterator[PerExampleGradients]:
        """``per_example_gradients`` over consecutive chunks of at most ``chunk_size`` examples.

        Peak memory is that of one chunk (about 104 KB per example for 784-16-16-10 in float64, so
        ~100 MB for the default 1000). The arguments are checked at the call, not at the first
        ``next()``.
        """
        if not isinstance(chunk_size, (int, np.integer)) or isinstance(chunk_size, bool) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        x, y = self.prepare(X, Y)
        return self._iter_per_example(x, y, int(chunk_size))

    def _iter_per_example(self, x: Array, y: Array, chunk_size: int) -> Iterator[PerExampleGradients]:
        for start in range(0, x.shape[0], chunk_size):
            yield self._per_example(x[start : start + chunk_size], y[start : start + chunk_size])

    def _per_example(self, x: Array, y: Array) -> PerExampleGradients:
        fp = self._forward(x)
        out = self.activations[-1]
        cost = self.cost_function.per_example(fp.zs[-1], fp.output, y, out)  # (n,)
        # Without the 1/n every row of δ is that example's own ∂C_x/∂z: rows never mix in BP2.
        delta, nabla_a = self._delta_and_nabla_a(fp, y, 1)
        nabla_b = [d.copy() for d in delta]  # ∂C_x/∂b^ℓ = δ^ℓ_x, (n, out); a copy, so editing one leaves the other
        nabla_w = [d[:, :, None] * a[:, None, :] for d, a in zip(delta, fp.activations)]  # (n, out, in)
        return PerExampleGradients(cost, nabla_w, nabla_b, delta, nabla_a)


def _check_sizes(sizes: Any) -> tuple[int, ...]:
    try:
        values = list(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a sequence of layer widths such as [784, 16, 16, 10], got {sizes!r}") from None
    if len(values) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {values}")
    for s in values:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"every layer width must be a positive integer, got {values}")
    return tuple(int(s) for s in values)

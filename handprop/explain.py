"""The video's explanation of backpropagation, as numbers: one example's nudges and sensitivities.

3Blue1Brown's chapter 3 follows one training image through the network and asks:

1. what change each output neuron "wants" — the desired change −∂C_x/∂a^L_j, which for the
   quadratic cost C_x = ½‖a − y‖² is y_j − a_j: proportional to how far a_j is from its target;
2. how sensitive the cost is to each weight and bias of the last layer, and how many times more
   sensitive to one than to another (the video's "3.2 versus 0.1");
3. for one output neuron j, the three avenues to move its activation — its bias (∂C/∂b_j = δ_j),
   its weights (∂C/∂w_jk = δ_j a_k, in proportion to the previous activations: "neurons that fire
   together wire together"), and the previous activations (δ_j w_jk, in proportion to the weights);
   and the previous layer's desired changes summed over every output neuron,
   −∂C/∂a^(L-1)_k = −Σ_j δ_j w_jk;
4. how averaging the nudges of many examples gives the gradient that a mini-batch approximates.

Every number here comes from the engine's own derivatives (``Network.per_example_gradients``,
``Network.backprop_prepared``); nothing is differentiated a second time. The functions return
dataclasses and never print: ``explain_text`` formats them and ``explain_figure`` draws them.

Notation as in ``network``: layer L is the output, L-1 the one before it; ``C_x`` is one example's own
cost (not divided by a batch size) and a batch's cost C is the **mean** of its C_x.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from tqdm import tqdm

from .network import Network

logger = logging.getLogger(__name__)

Array = np.ndarray


@dataclass(frozen=True)
class ExplainConfig:
    """Settings of an explanation (the CLI's flags)."""

    top: int = 5  # how many ranked entries to keep in each list
    neuron: Optional[int] = None  # output neuron for the three avenues; None: the example's label
    batch_size: int = 10  # mini-batch whose per-example nudges are compared with their average
    sizes: tuple[int, ...] = (1, 10, 100, 1000)  # mini-batch sizes compared with the full gradient
    trials: int = 10  # seeded mini-batches per size
    seed: int = 0  # draws the mini-batches
    chunk_size: int = 1000  # examples per chunk of per-example gradients (memory: see docs/explain.md)

    def __post_init__(self) -> None:
        for name in ("top", "batch_size", "trials", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not self.sizes or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be positive integers such as (1, 10, 100, 1000), got {self.sizes!r}")


# ---------------------------------------------------------------------------------------------
# one example


@dataclass
class Sensitivity:
    """One parameter's partial derivative ∂C_x/∂θ, and how it compares with the median."""

    name: str  # e.g. "w3[5,7]" (layer 3, output neuron 5, previous neuron 7) or "b3[5]"
    index: tuple[int, ...]  # (j, k) for a weight, (j,) for a bias
    partial: float  # ∂C_x/∂θ
    times_median: float  # |∂C_x/∂θ| / median of the layer's nonzero |∂C_x/∂θ|; nan if all are 0

    @property
    def desired_change(self) -> float:
        """−∂C_x/∂θ: the direction (and relative size) gradient descent would move θ."""
        return -self.partial


@dataclass
class OutputNudges:
    """The output layer for one example: activations, targets and desired changes (all (outputs,))."""

    activations: Array  # a^L
    targets: Array  # y
    desired: Array  # −∂C_x/∂a^L (= y − a for the quadratic cost)
    cost: float  # C_x


@dataclass
class Avenues:
    """The three ways to change output neuron j's activation, and the previous layer's wishes.

    ``delta`` = δ^L_j = ∂C_x/∂z^L_j. Then ∂C_x/∂b^L_j = δ_j; ∂C_x/∂w^L_jk = δ_j a^(L-1)_k (the
    weights' avenue, ∝ the previous activations); δ_j w^L_jk is neuron j's part of ∂C_x/∂a^(L-1)_k
    (the activations' avenue, ∝ the weights); summing those parts over every output neuron j gives
    ∂C_x/∂a^(L-1)_k (BP2 before the σ').
    """

    neuron: int  # j
    activation: float  # a^L_j
    target: float  # y_j
    delta: float  # δ^L_j = ∂C_x/∂z^L_j
    bias_partial: float  # ∂C_x/∂b^L_j (= δ_j)
    previous_activations: Array  # a^(L-1), (prev,)
    weight_partials: Array  # ∂C_x/∂w^L_jk = δ_j a^(L-1)_k, (prev,)
    weights: Array  # w^L_jk, (prev,)
    activation_partials: Array  # δ_j w^L_jk: neuron j's share of ∂C_x/∂a^(L-1)_k, (prev,)
    contributions: Array  # δ_i w^L_ik for every output neuron i, (outputs, prev)
    previous_desired: Array  # −∂C_x/∂a^(L-1) = −Σ_i δ_i w^L_ik, from the engine's backward pass, (prev,)
    top_by_activation: list[int]  # k ordered by |a^(L-1)_k|, the weights that matter most
    top_by_weight: list[int]  # k ordered by |w^L_jk|, the activations that matter most


@dataclass
class ExampleExplanation:
    """Everything ``handprop explain`` shows about one example."""

    label: int
    prediction: int
    image: Array  # the input x, (inputs,)
    layer: int  # L, the output layer's number (weights[L-1] = W^L)
    outputs: OutputNudges
    weight_sensitivities: list[Sensitivity]  # the top |∂C_x/∂w^L|, largest first
    bias_sensitivities: list[Sensitivity]  # the top |∂C_x/∂b^L|, largest first
    median_weight_partial: float  # median over W^L of the nonzero |∂C_x/∂w|
    median_bias_partial: float  # median over b^L of the nonzero |∂C_x/∂b|
    zero_weight_partials: int  # how many ∂C_x/∂w^L are exactly 0 (e.g. behind an inactive ReLU)
    zero_bias_partials: int
    avenues: Avenues
    first_layer_nabla_w: Array  # ∂C_x/∂W^1, (units of layer 1, inputs): drawn as 28×28 maps
    first_layer_nabla_b: Array  # ∂C_x/∂b^1 = δ^1, (units of layer 1,)


def _ranked(partials: Array, top: int, name: str) -> tuple[list[Sensitivity], float, int]:
    """The ``top`` entries of ``partials`` by magnitude, each compared with the median magnitude.

    The median leaves out exact zeros: a weight behind an inactive ReLU (a_k = 0) cannot change
    C_x at all, and with many of them the median would be 0 and every ratio infinite.
    Returns (ranked entries, median, number of zeros).
    """
    magnitude = np.abs(partials)
    nonzero = magnitude[magnitude > 0]
    median = float(np.median(nonzero)) if nonzero.size else 0.0
    order = np.argsort(-magnitude, axis=None, kind="stable")[:top]
    result = []
    for flat in order:
        index = tuple(int(i) for i in np.unravel_index(flat, partials.shape))
        value = float(partials[index])
        ratio = abs(value) / median if median > 0 else float("nan")
        result.append(Sensitivity(f"{name}[{','.join(map(str, index))}]", index, value, ratio))
    return result, median, int(magnitude.size - nonzero.size)


def explain_example(net: Network, x: Array, label: int, neuron: Optional[int] = None, top: int = 5) -> ExampleExplanation:
    """The video's quantities for one example ``x`` (inputs,) with class ``label``.

    ``neuron`` picks the output neuron of the three avenues (default: ``label``, the neuron whose
    activation should rise). All derivatives are the engine's per-example gradients of C_x.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"x must be one example of shape ({net.sizes[0]},), got shape {x.shape}")
    n_out = net.sizes[-1]
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < n_out:
        raise ValueError(f"label must be an integer in [0, {n_out - 1}], got {label!r}")
    j = int(label) if neuron is None else neuron
    if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 0 <= j < n_out:
        raise ValueError(f"neuron must be an output neuron in [0, {n_out - 1}], got {neuron!r}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    j = int(j)

    xb, yb = net.prepare(x[None, :], np.array([int(label)]))  # (1, inputs), (1, outputs)
    fp = net.feedforward(xb)
    g = net.per_example_gradients(xb, yb)  # one example: C_x and its own gradients
    L = net.num_layers
    a_L, y = fp.output[0], yb[0]  # (outputs,)
    a_prev = fp.activations[-2][0]  # a^(L-1), (prev,)
    W_L = net.weights[-1]  # (outputs, prev)
    delta_L = g.delta[-1][0]  # δ^L, (outputs,)
    nabla_w_L = g.nabla_w[-1][0]  # ∂C_x/∂W^L, (outputs, prev)
    nabla_b_L = g.nabla_b[-1][0]  # ∂C_x/∂b^L, (outputs,)

    weights_ranked, median_w, zeros_w = _ranked(nabla_w_L, top, f"w{L}")
    biases_ranked, median_b, zeros_b = _ranked(nabla_b_L, top, f"b{L}")

    contributions = delta_L[:, None] * W_L  # δ_i w_ik, (outputs, prev); Σ_i is BP2's δ^L W^L
    avenues = Avenues(
        neuron=j,
        activation=float(a_L[j]),
        target=float(y[j]),
        delta=float(delta_L[j]),
        bias_partial=float(nabla_b_L[j]),
        previous_activations=a_prev.copy(),
        weight_partials=nabla_w_L[j].copy(),
        weights=W_L[j].copy(),
        activation_partials=contributions[j].copy(),
        contributions=contributions,
        previous_desired=-g.nabla_a[-2][0],  # the engine's ∂C_x/∂a^(L-1), negated
        top_by_activation=[int(k) for k in np.argsort(-np.abs(a_prev), kind="stable")[:top]],
        top_by_weight=[int(k) for k in np.argsort(-np.abs(W_L[j]), kind="stable")[:top]],
    )
    return ExampleExplanation(
        label=int(label),
        prediction=int(a_L.argmax()),
        image=xb[0].copy(),
        layer=L,
        outputs=OutputNudges(a_L.copy(), y.copy(), -g.nabla_a[-1][0], float(g.cost[0])),
        weight_sensitivities=weights_ranked,
        bias_sensitivities=biases_ranked,
        median_weight_partial=median_w,
        median_bias_partial=median_b,
        zero_weight_partials=zeros_w,
        zero_bias_partials=zeros_b,
        avenues=avenues,
        first_layer_nabla_w=g.nabla_w[0][0],
        first_layer_nabla_b=g.nabla_b[0][0],
    )


# ---------------------------------------------------------------------------------------------
# mini-batches


def _flat(nabla_w: Sequence[Array], nabla_b: Sequence[Array]) -> Array:
    """All parameters' derivatives as one vector (W^1, b^1, W^2, b^2, …), for cosines and norms."""
    return np.concatenate([p.ravel() for w, b in zip(nabla_w, nabla_b) for p in (w, b)])


def _flat_per_example(nabla_w: Sequence[Array], nabla_b: Sequence[Array]) -> Array:
    """Per-example derivatives ``(n, out, in)`` / ``(n, out)`` as rows of one matrix (n, parameters)."""
    n = nabla_b[0].shape[0]
    return np.concatenate([p.reshape(n, -1) for w, b in zip(nabla_w, nabla_b) for p in (w, b)], axis=1)


def _cosine(u: Array, v: Array) -> float:
    """cos∠(u, v) = u·v / (‖u‖‖v‖); nan when either vector is zero."""
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    return float(u @ v / (nu * nv)) if nu > 0 and nv > 0 else float("nan")


@dataclass
class ExampleVsBatch:
    """Each example's own nudge −∇C_x against the batch's average nudge −∇C (C = mean of C_x)."""

    indices: Array  # dataset indices of the batch, (m,)
    labels: Array  # (m,)
    costs: Array  # C_x, (m,)
    cosines: Array  # cos∠(∇C_x, ∇C), (m,)
    norm_ratios: Array  # ‖∇C_x‖ / ‖∇C‖, (m,)
    batch_cost: float  # C, the mean of ``costs``


def compare_with_batch(
    net: Network, X: Array, labels: Array, indices: Sequence[int], chunk_size: int = 1000,
    materialise: bool = False,
) -> ExampleVsBatch:
    """Cosine of each example's gradient with the batch gradient, for the examples ``X[indices]``.

    By default the per-example gradients are never formed: each layer's part of ∇C_x is the outer
    product δ_x a_xᵀ (and δ_x for the bias), so, summed over layers ℓ,

        ‖∇C_x‖² = Σ_ℓ ‖δ^ℓ_x‖² (‖a^(ℓ-1)_x‖² + 1)       ⟨∇C_x, ∇C⟩ = Σ_ℓ δ^ℓ_xᵀ (G_W^ℓ a^(ℓ-1)_x + G_b^ℓ)

    with G = ∇C the batch gradient, the mean of the ∇C_x. That costs about twice the batch gradient
    (docs/training.md), so the whole training set fits. ``materialise=True`` forms every ∇C_x instead
    (``Network.iter_per_example_gradients``, ``chunk_size`` examples at a time), as a cross-check.
    """
    idx = np.asarray(indices, dtype=np.int64)  # (m,)
    x, y = net.prepare(X[idx], labels[idx])
    if materialise:
        costs, norms, dots, mean = _materialised_statistics(net, x, y, chunk_size)
    else:
        costs, norms, dots, mean = factored_statistics(net, x, y, chunk_size)
    norm_mean = np.linalg.norm(mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines, ratios = dots / (norms * norm_mean), norms / norm_mean
    return ExampleVsBatch(
        indices=idx,
        labels=np.asarray(labels)[idx],
        costs=costs,
        cosines=cosines,
        norm_ratios=ratios,
        batch_cost=float(costs.mean()),
    )


def _materialised_statistics(net: Network, x: Array, y: Array, chunk_size: int) -> tuple[Array, Array, Array, Array]:
    """(C_x, ‖∇C_x‖, ⟨∇C_x, ∇C⟩, ∇C) from every per-example gradient, chunk by chunk."""
    mean = _flat(*net.backprop_prepared(x, y))  # ∇C, (parameters,)
    costs, norms, dots = [], [], []
    for chunk in net.iter_per_example_gradients(x, y, chunk_size=chunk_size):
        rows = _flat_per_example(chunk.nabla_w, chunk.nabla_b)  # ∇C_x, (chunk, parameters)
        norms.append(np.linalg.norm(rows, axis=1))  # (chunk,)
        dots.append(rows @ mean)  # (chunk,)
        costs.append(chunk.cost)
    return np.concatenate(costs), np.concatenate(norms), np.concatenate(dots), mean


def _own_deltas(net: Network, x: Array, y: Array) -> tuple[list[Array], list[Array], Array]:
    """(δ^ℓ of each example's own cost C_x (not divided by n), activations a^ℓ, C_x) for a prepared batch."""
    fp = net._forward(x)
    delta, _ = net._backward(fp, net._output_delta(fp, y))  # rows never mix in BP2: row x is ∂C_x/∂z
    cost = net.cost_function.per_example(fp.zs[-1], fp.output, y, net.activations[-1])  # (n,)
    return delta, fp.activations, cost


def factored_statistics(
    net: Network, x: Array, y: Array, chunk_size: int = 10_000
) -> tuple[Array, Array, Array, Array]:
    """(C_x (n,), ‖∇C_x‖ (n,), ⟨∇C_x, ∇C⟩ (n,), ∇C as one vector) without forming any ∇C_x.

    x, y are prepared (``Network.prepare``). Up to ``chunk_size`` examples take one forward and one
    backward pass; more take two passes of chunks (the first for ∇C), so memory stays at one chunk.
    """
    n = x.shape[0]
    chunks = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    saved = None
    G_w = [np.zeros_like(W) for W in net.weights]  # Σ_x δ_x a_xᵀ, then ÷ n
    G_b = [np.zeros_like(b) for b in net.biases]
    for start, stop in chunks:
        delta, acts, cost = _own_deltas(net, x[start:stop], y[start:stop])
        for gw, gb, d, a in zip(G_w, G_b, delta, acts):
            gw += d.T @ a  # BP4 summed over the chunk, (out, in)
            gb += d.sum(axis=0)  # BP3, (out,)
        if len(chunks) == 1:
            saved = delta, acts, cost
    for gw, gb in zip(G_w, G_b):
        gw /= n
        gb /= n
    costs, norms2, dots = [], [], []
    for start, stop in chunks:
        delta, acts, cost = saved if saved is not None else _own_deltas(net, x[start:stop], y[start:stop])
        sq = np.zeros(stop - start, dtype=x.dtype)  # ‖∇C_x‖², (chunk,)
        dot = np.zeros(stop - start, dtype=x.dtype)  # ⟨∇C_x, ∇C⟩, (chunk,)
        for gw, gb, d, a in zip(G_w, G_b, delta, acts):
            d2 = np.einsum("ij,ij->i", d, d)  # ‖δ_x‖², (chunk,)
            sq += d2 * (np.einsum("ij,ij->i", a, a) + 1)  # ‖δ_x a_xᵀ‖² + ‖δ_x‖²
            dot += np.einsum("ij,ij->i", d @ gw, a) + d @ gb  # δ_xᵀ G_W a_x + δ_x · G_b
        costs.append(cost)
        norms2.append(sq)
        dots.append(dot)
    return np.concatenate(costs), np.sqrt(np.concatenate(norms2)), np.concatenate(dots), _flat(G_w, G_b)


@dataclass
class BatchApproximation:
    """How well mini-batches of one size approximate the full training set's gradient ∇C.

    Averaged over ``trials`` batches drawn without replacement: cos∠(∇C_B, ∇C), the norm ratio
    ‖∇C_B‖/‖∇C‖, and the relative error ‖∇C_B − ∇C‖/‖∇C‖.
    """

    size: int
    trials: int
    cosine_mean: float
    cosine_std: float
    norm_ratio_mean: float
    relative_error_mean: float


@dataclass
class MiniBatchStudy:
    """The full-training-set gradient and how mini-batches of several sizes approximate it."""

    examples: int  # n, the size of the full set
    full_cost: float  # C over all n examples (mean)
    full_norm: float  # ‖∇C‖
    rows: list[BatchApproximation] = field(default_factory=list)


def full_gradient(net: Network, x: Array, y: Array, chunk_size: int = 10000) -> tuple[Array, float]:
    """(∇C as one vector, C) of the mean cost over all of the prepared ``x``, ``y``, chunk by chunk.

    ∇C = Σ_chunks (n_chunk / n) ∇C_chunk, since each chunk's gradient is of its own mean cost.
    """
    n = x.shape[0]
    parts, cost = [], 0.0
    for start in range(0, n, chunk_size):
        xc, yc = x[start : start + chunk_size], y[start : start + chunk_size]
        weight = xc.shape[0] / n
        chunk_cost, nabla_w, nabla_b = net.cost_and_backprop_prepared(xc, yc)  # one forward pass for both
        parts.append(_flat(nabla_w, nabla_b) * weight)
        cost += weight * chunk_cost
    return np.sum(parts, axis=0), cost


def minibatch_study(
    net: Network,
    X: Array,
    labels: Array,
    sizes: Sequence[int] = (1, 10, 100, 1000),
    trials: int = 10,
    seed: int = 0,
    progress: bool = False,
) -> MiniBatchStudy:
    """Compare mini-batch gradients of each size in ``sizes`` with the gradient over all of ``X``.

    The "drunk man stumbling downhill, but quickly": each mini-batch gradient points roughly, not
    exactly, along the full gradient, and better the larger the batch. Batches are drawn without
    replacement by ``numpy.random.default_rng(seed)``.
    """
    x, y = net.prepare(X, labels)
    n = x.shape[0]
    too_big = [s for s in sizes if s > n]
    if too_big:
        raise ValueError(f"mini-batch sizes {too_big} exceed the {n} examples available")
    g_full, cost = full_gradient(net, x, y)
    norm_full = float(np.linalg.norm(g_full))
    rng = np.random.default_rng(seed)
    study = MiniBatchStudy(examples=n, full_cost=cost, full_norm=norm_full)
    bar = tqdm(total=len(sizes) * trials, desc="mini-batches", file=sys.stderr,
               disable=not (progress and sys.stderr.isatty()))
    for size in sizes:
        cos, ratio, err = [], [], []
        for _ in range(trials):
            idx = rng.choice(n, size=int(size), replace=False)
            g = _flat(*net.backprop_prepared(x[idx], y[idx]))  # ∇C_B, (parameters,)
            cos.append(_cosine(g, g_full))
            ratio.append(np.linalg.norm(g) / norm_full)
            err.append(np.linalg.norm(g - g_full) / norm_full)
            bar.update()
        study.rows.append(
            BatchApproximation(int(size), trials, float(np.nanmean(cos)), float(np.nanstd(cos)),
                               float(np.mean(ratio)), float(np.mean(err)))
        )
        logger.info("mini-batch size %d: mean cosine %.3f", size, study.rows[-1].cosine_mean)
    bar.close()
    return study

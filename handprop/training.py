"""Mini-batch stochastic gradient descent, for either backend, with one shared shuffling generator.

One epoch, as in the video and in Nielsen's ``network.py``: shuffle the n training examples, split
them into mini-batches of m (the last one may be smaller), and for each batch step on the gradient
of the batch's **mean** cost C = (1/m) Σ_x C_x:

    W ← (1 − η λ / n) W − η ∂C/∂W        b ← b − η ∂C/∂b

η is the learning rate (``lr``) and λ the L2 strength (``l2``). The weight-decay factor uses the
size n of the whole training set, as in Nielsen's chapter 3 (the regularised cost is
C₀ + λ/(2n) Σ w²); biases are not decayed. With λ = 0 this is plain SGD.

A backend is anything with the few operations of ``handprop.backend.Backend``: the NumPy engine,
the compiled engine or the PyTorch twin, each in its own module and chosen by name in
``handprop.backends``; this module knows only the protocol. ``train_epoch`` drives any one the same
way; ``Trainer`` runs one backend, or two in lockstep on the *same* batches drawn from one
``numpy.random.Generator``, comparing their parameters after every step (see ``lockstep_epoch``).

A NaN or infinite cost stops training. Each step returns its batch's mean cost (from the forward
pass it needs anyway); the loop adds them up and, every ``CHECK_EVERY`` batches, checks that the sum
and the parameters are finite (NaN and inf survive a sum), keeping a copy of the last parameters
that passed. One check per window rather than per batch lets the torch backend leave the costs on
the GPU without a synchronisation per batch. When a check fails, the loop restores that copy and
replays the window one batch at a time to name the exact batch, then stops.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .backend import Array, Backend
from .checks import DTYPES, check_parameter_memory
from .costs import COSTS
from .init import INITS
from .network import Network

logger = logging.getLogger(__name__)

CHECK_EVERY = 50  # batches between finiteness checks of the costs and parameters

# --backend both runs the backends in lockstep: on every batch each one steps from the *same*
# parameters, their updated parameters are compared, and the second is then set to the first's. Why
# not let the two run free and compare once per epoch: at the default learning rate 3.0, SGD on this
# network is chaotic — a change of 1e-15 in one weight grows to ~0.6 within one epoch even with the
# same engine on both sides (docs/training.md) — so free-running backends differ by O(1) after an
# epoch whatever their correctness, while a one-step comparison stays at round-off and catches any
# real difference in the maths.
#
# The tolerance is relative to the step, because round-off is: for each parameter array θ (one W or
# b) after the step Δθ = θ_new − θ_old, the backends may differ by
#     |θ_handprop − θ_torch| ≤ rtol · max|Δθ| + 4 ε · max|θ_new|
# (the step computed to rtol of its own size, plus a few roundings of θ itself in the update, ε being
# the dtype's machine epsilon). A fixed absolute tolerance would call a lr of 1000 a disagreement
# (steps of 1e11 carry round-off of 1e-5) and would let a wrong step pass when the steps are tiny.
LOCKSTEP_TOLERANCE = {"float64": 1e-10, "float32": 1e-4}  # rtol: relative to the step's size
LOCKSTEP_ULPS = 4  # roundings of θ allowed on top (the decay multiply, the subtraction, and margin)


class TrainingDiverged(RuntimeError):
    """The cost became NaN or infinite (names the epoch and batch)."""


class LockstepError(RuntimeError):
    """After one step the backends' parameters differ by more than ``LOCKSTEP_TOLERANCE`` allows."""


# ---------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a run. The defaults train the video's network.

    ``dtype`` defaults to float32: it trains the same network about twice as fast as float64 and
    reaches the same accuracy; use float64 to compare the backends at round-off level.
    """

    arch: tuple[int, ...] = (784, 16, 16, 10)
    hidden: tuple[str, ...] = ("sigmoid",)  # one name for every hidden layer, or one per layer
    output: str = "sigmoid"
    cost: str = "quadratic"
    init: str = "normal"
    epochs: int = 30
    batch_size: int = 10
    lr: float = 3.0
    l2: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    dataset: str = "mnist"

    def __post_init__(self) -> None:
        if len(self.arch) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.arch):
            raise ValueError(f"arch must list at least two positive layer widths such as 784-16-16-10, got {self.arch}")
        n_hidden = len(self.arch) - 2
        if len(self.hidden) not in (1, n_hidden):  # with no hidden layer: no name, or one (unused)
            raise ValueError(
                f"hidden gives {len(self.hidden)} activations but arch {self.arch} has {n_hidden} hidden layers; "
                f"give one name for all of them or one per layer"
            )
        for name in self.hidden:
            if name not in HIDDEN_ACTIVATIONS:
                raise ValueError(f"unknown hidden activation {name!r}; expected one of: {', '.join(HIDDEN_ACTIVATIONS)}")
        if self.output not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"unknown output activation {self.output!r}; expected one of: {', '.join(OUTPUT_ACTIVATIONS)}")
        if self.cost not in COSTS:
            raise ValueError(f"unknown cost {self.cost!r}; expected one of: {', '.join(COSTS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; expected one of: {', '.join(INITS)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if not (isinstance(self.l2, (int, float)) and math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be a finite number ≥ 0, got {self.l2!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r}; expected one of: {', '.join(DTYPES)}")
        check_parameter_memory(self.arch, self.dtype)  # before any data is loaded or array allocated

    @property
    def hidden_per_layer(self) -> list[str]:
        n_hidden = len(self.arch) - 2
        return list(self.hidden) * n_hidden if len(self.hidden) == 1 else list(self.hidden)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"], d["hidden"] = list(self.arch), list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        d = dict(d)
        if "arch" in d:
            d["arch"] = tuple(d["arch"])
        if "hidden" in d:
            d["hidden"] = (d["hidden"],) if isinstance(d["hidden"], str) else tuple(d["hidden"])
        return cls(**d)

    def build_network(self) -> Network:
        """The initial network, drawn from the run's initialisation stream."""
        init_rng, _ = self.generators()
        return Network(
            self.arch, self.hidden_per_layer, self.output, self.cost, self.init, self.dtype, seed=init_rng
        )

    def generators(self) -> tuple[np.random.Generator, np.random.Generator]:
        """(initialisation, shuffling): two independent streams spawned from ``seed``."""
        init_seq, shuffle_seq = np.random.SeedSequence(self.seed).spawn(2)
        return np.random.default_rng(init_seq), np.random.default_rng(shuffle_seq)


def parse_arch(text: str) -> tuple[int, ...]:
    """'784-16-16-10' → (784, 16, 16, 10)."""
    try:
        sizes = tuple(int(part) for part in str(text).split("-"))
    except ValueError:
        raise ValueError(f"--arch must be layer widths joined by '-', such as 784-16-16-10; got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"--arch needs at least two positive widths, such as 784-16-16-10; got {text!r}")
    return sizes


# ---------------------------------------------------------------------------------------------
# the loop


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """[(start, stop)] of consecutive mini-batches covering n examples; the last may be smaller."""
    return [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def train_epoch(
    backend: Backend, order: Array, batch_size: int, epoch: int, progress: Optional[bool] = None
) -> float:
    """One pass of mini-batch SGD over ``order``; returns the wall-clock seconds of the pass.

    ``progress``: True shows a tqdm bar on stderr, None shows it only on a terminal, False hides it.
    Raises ``TrainingDiverged`` (parameters left at the last finite state) on a NaN or inf cost.
    """
    from tqdm import tqdm

    bounds = batch_bounds(len(order), batch_size)
    backend.begin_epoch(order)
    saved, saved_at = backend.snapshot(), 0  # last parameters known to be finite, and their batch
    backend.synchronize()
    started = time.perf_counter()
    bar = tqdm(
        total=len(bounds), desc=f"{backend.name} epoch {epoch}", unit="batch", leave=False,
        disable=None if progress is None else not progress, mininterval=0.5,
    )
    with np.errstate(all="ignore"):  # overflow is caught by the finiteness check, not by warnings
        for first in range(0, len(bounds), CHECK_EVERY):
            last = min(first + CHECK_EVERY, len(bounds))  # this window is batches first+1 … last
            window = backend.steps(bounds[first][0], bounds[last - 1][1], batch_size)
            bar.update(last - first)
            if not (math.isfinite(window) and backend.parameters_finite()):
                bar.close()
                _locate_divergence(backend, bounds, saved, saved_at, epoch)
            saved, saved_at = backend.snapshot(), last
    backend.synchronize()
    seconds = time.perf_counter() - started
    bar.close()
    return seconds


def lockstep_epoch(
    backends: Sequence[Backend],
    order: Array,
    batch_size: int,
    epoch: int,
    tolerance: float,
    progress: Optional[bool] = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """One epoch of several backends in lockstep; returns (seconds per backend, largest differences).

    On every batch each backend steps from the same parameters; the others' updated parameters are
    compared with the first's, must agree within ``tolerance`` relative to the step (see
    ``LOCKSTEP_TOLERANCE``; else ``LockstepError`` naming the batch and the array), and are then set to
    the first's, so every comparison covers exactly one step. A step that makes any backend's
    parameters NaN or infinite raises ``TrainingDiverged``. The differences are
    ``{"max_abs_param_diff": max |θ_a − θ_b|, "max_fraction_of_tolerance": max |θ_a − θ_b| / allowed}``
    over the epoch's steps and arrays (the second is ≤ 1 when every step passed). Each backend's seconds count its own steps only (comparisons excluded).
    """
    from tqdm import tqdm

    reference, others = backends[0], list(backends[1:])
    bounds = batch_bounds(len(order), batch_size)
    for backend in backends:
        backend.begin_epoch(order)
    seconds = {backend.name: 0.0 for backend in backends}
    worst = {"max_abs_param_diff": 0.0, "max_fraction_of_tolerance": 0.0}
    theta_old = reference.parameters()  # the parameters every backend steps from, copied once per batch
    bar = tqdm(
        bounds, desc=f"lockstep epoch {epoch}", unit="batch", leave=False,
        disable=None if progress is None else not progress, mininterval=0.5,
    )
    with np.errstate(all="ignore"):  # overflow is caught by the finiteness check, not by warnings
        for k, (start, stop) in enumerate(bar, start=1):
            for backend in backends:
                started = time.perf_counter()
                cost = backend.step(start, stop)
                backend.synchronize()
                seconds[backend.name] += time.perf_counter() - started
                if backend is reference:
                    reference_cost = cost
            if not (math.isfinite(reference_cost) and reference.parameters_finite()):
                bar.close()
                reference.set_parameters(*theta_old)
                _locate_divergence(reference, bounds, reference.snapshot(), k - 1, epoch)
            theta = reference.parameters()
            for other in others:
                if not other.parameters_finite():  # the reference stayed finite: this one overflowed first
                    bar.close()
                    raise TrainingDiverged(
                        f"{other.name}: the step on epoch {epoch}, batch {k} of {len(bounds)} made the parameters NaN "
                        f"or infinite; training stopped (the learning rate is probably too large: try a smaller --lr)"
                    )
                for name, abs_diff, rel_diff, allowed, step in step_differences(theta_old, theta, other.parameters(), tolerance):
                    if not abs_diff <= allowed:
                        bar.close()
                        raise LockstepError(
                            f"{reference.name} and {other.name} disagree after the step on epoch {epoch}, batch {k} of "
                            f"{len(bounds)}: {name} differs by {abs_diff:.3g} on a step of size {step:.3g} (relative "
                            f"{rel_diff:.3g}), beyond the lockstep tolerance {tolerance:g} × step + round-off = {allowed:.3g}"
                        )
                    worst["max_abs_param_diff"] = max(worst["max_abs_param_diff"], abs_diff)
                    worst["max_fraction_of_tolerance"] = max(worst["max_fraction_of_tolerance"], abs_diff / allowed if allowed else 0.0)
                other.set_parameters(*theta)
            theta_old = theta
    bar.close()
    return seconds, worst


def step_differences(
    before: tuple[Sequence[Array], Sequence[Array]],
    a: tuple[Sequence[Array], Sequence[Array]],
    b: tuple[Sequence[Array], Sequence[Array]],
    rtol: float,
) -> Iterator[tuple[str, float, float, float, float]]:
    """For each array W1, b1, W2, …: (name, max |a − b|, that ÷ max|a − before|, allowed, max|a − before|).

    ``allowed`` = rtol · max|Δθ| + LOCKSTEP_ULPS · ε · max|a|: the step's own round-off plus a few
    roundings of the parameters (see ``LOCKSTEP_TOLERANCE``).
    """
    L = len(a[0])
    names = [f"W{l}" for l in range(1, L + 1)] + [f"b{l}" for l in range(1, L + 1)]
    for name, p0, p, q in zip(names, [*before[0], *before[1]], [*a[0], *a[1]], [*b[0], *b[1]]):
        diff = float(np.abs(p - q).max())
        step = float(np.abs(p - p0).max())
        allowed = rtol * step + LOCKSTEP_ULPS * float(np.finfo(p.dtype).eps) * float(np.abs(p).max())
        yield name, diff, (diff / step if step > 0 else (0.0 if diff == 0 else math.inf)), allowed, step


def _locate_divergence(
    backend: Backend, bounds: list[tuple[int, int]], saved: Any, saved_at: int, epoch: int
) -> None:
    """Replay from the last finite parameters, one batch at a time, and raise naming the bad batch."""
    backend.restore(saved)
    for k in range(saved_at, len(bounds)):
        start, stop = bounds[k]
        cost = backend.batch_cost(start, stop)
        if not math.isfinite(cost):
            backend.restore(saved)
            raise TrainingDiverged(
                f"{backend.name}: the cost is {cost} at epoch {epoch}, batch {k + 1} of {len(bounds)}; "
                f"training stopped (the learning rate is probably too large: try a smaller --lr)"
            )
        backend.step(start, stop)
        if not backend.parameters_finite():
            backend.restore(saved)
            raise TrainingDiverged(
                f"{backend.name}: the step on epoch {epoch}, batch {k + 1} of {len(bounds)} made the parameters "
                f"NaN or infinite; training stopped (the learning rate is probably too large: try a smaller --lr)"
            )
    backend.restore(saved)  # every cost finite on replay: their sum overflowed, or a kernel is not deterministic
    raise TrainingDiverged(
        f"{backend.name}: the costs of epoch {epoch}, batches {saved_at + 1}-{len(bounds)}, overflowed; training "
        f"stopped (the learning rate is probably too large: try a smaller --lr)"
    )


@dataclass
class EpochMetrics:
    """One epoch of one backend, as written to metrics.json."""

    epoch: int
    train_cost: float  # mean cost over the whole training set after the epoch
    test_cost: float  # mean cost over the whole test set
    test_accuracy: float  # fraction in [0, 1]
    train_seconds: float  # the training pass alone, evaluation excluded
    # the settings this epoch trained with (a resumed run may change them); None in older checkpoints
    lr: Optional[float] = None
    l2: Optional[float] = None
    batch_size: Optional[int] = None


@dataclass
class Dataset:
    """Training and test arrays: inputs (n, in) in [0, 1] and integer labels (n,)."""

    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array


@dataclass
class Trainer:
    """Runs one or more backends side by side on the same batches (see the module docstring)."""

    config: TrainConfig
    backends: dict[str, Backend]
    data: Dataset
    shuffle_rng: np.random.Generator
    start_epoch: int = 0  # epochs already done (resume)
    history: dict[str, list[EpochMetrics]] = field(default_factory=dict)
    lockstep: list[dict[str, float]] = field(default_factory=list)
    progress: Optional[bool] = None

    def __post_init__(self) -> None:
        n_out = self.config.arch[-1]
        self._y_train = _one_hot(self.data.y_train, n_out, self.config.dtype)  # (n, out)
        self._y_test = _one_hot(self.data.y_test, n_out, self.config.dtype)
        for backend in self.backends.values():
            backend.load_training_data(self.data.x_train, self._y_train)
            self.history.setdefault(backend.name, [])

    @property
    def tolerance(self) -> float:
        return LOCKSTEP_TOLERANCE[self.config.dtype]

    def run(self, on_epoch: Optional[Callable[[int, "Trainer"], None]] = None) -> None:
        """Train from ``start_epoch`` to ``config.epochs``; ``on_epoch(epoch, self)`` after each."""
        n = self.data.x_train.shape[0]
        for epoch in range(self.start_epoch + 1, self.config.epochs + 1):
            order = self.shuffle_rng.permutation(n)  # (n,): the same batches for every backend
            backends = list(self.backends.values())
            if len(backends) == 1:
                seconds = {backends[0].name: train_epoch(backends[0], order, self.config.batch_size, epoch, self.progress)}
            else:
                seconds, diff = lockstep_epoch(
                    backends, order, self.config.batch_size, epoch, self.tolerance, self.progress
                )
                self.lockstep.append({"epoch": epoch, **diff})
            for backend in backends:
                self.history[backend.name].append(self._evaluate(backend, epoch, seconds[backend.name]))
            self.start_epoch = epoch
            if on_epoch is not None:
                on_epoch(epoch, self)

    def _evaluate(self, backend: Backend, epoch: int, seconds: float) -> EpochMetrics:
        train_cost, _ = backend.evaluate(self.data.x_train, self._y_train)
        test_cost, predictions = backend.evaluate(self.data.x_test, self._y_test)
        if not math.isfinite(train_cost):
            raise TrainingDiverged(
                f"{backend.name}: the training cost is {train_cost} after epoch {epoch} (every batch's parameters "
                f"were finite); training stopped (try a smaller --lr)"
            )
        accuracy = float((predictions == self.data.y_test).mean())
        logger.info("%s epoch %d: train cost %.6g, test accuracy %.4f", backend.name, epoch, train_cost, accuracy)
        c = self.config
        return EpochMetrics(epoch, train_cost, test_cost, accuracy, seconds, c.lr, c.l2, c.batch_size)

    def metrics(self, backend_label: str) -> dict[str, Any]:
        """metrics.json's content: see docs/training.md for the schema."""
        return run_metrics(self.config, backend_label, self.history, self.lockstep)


def run_metrics(
    config: TrainConfig,
    backend_label: str,
    history: dict[str, list[EpochMetrics]],
    lockstep: Sequence[dict[str, float]] = (),
) -> dict[str, Any]:
    """metrics.json's content for a run's history: see docs/training.md for the schema."""
    settings = {**config.to_dict(), "backend": backend_label}

    def one(name: str) -> dict[str, Any]:
        epochs = [asdict(m) for m in history[name]]
        best = max(epochs, key=lambda m: m["test_accuracy"]) if epochs else None
        return {
            "config": settings,
            "backend": name,
            "epochs": epochs,
            "best": {"epoch": best["epoch"], "test_accuracy": best["test_accuracy"]} if best else None,
        }

    if len(history) == 1:
        return one(next(iter(history)))
    out: dict[str, Any] = {"config": settings}
    for name in history:
        out[name] = one(name)
    out["lockstep"] = list(lockstep)
    out["lockstep_tolerance"] = LOCKSTEP_TOLERANCE[config.dtype]
    return out


def max_abs_param_diff(
    a: tuple[Sequence[Array], Sequence[Array]], b: tuple[Sequence[Array], Sequence[Array]]
) -> float:
    """max over every weight and bias of |a − b|."""
    return max(float(np.abs(p - q).max()) for p, q in zip([*a[0], *a[1]], [*b[0], *b[1]]))


def _one_hot(labels: Array, n_classes: int, dtype: str) -> Array:
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} and dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] for a network with {n_classes} outputs")
    y = np.zeros((labels.shape[0], n_classes), dtype=dtype)  # (n, out)
    y[np.arange(labels.shape[0]), labels] = 1
    return y

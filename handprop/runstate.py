"""A training run on disk: the checkpoint that resumes it exactly, and metrics.json.

The checkpoint is the project's ``.npz`` format (``handprop.checkpoint``). Its network is the first
backend's (handprop's when it takes part); with ``--backend both`` the torch backend's parameters
ride along as extra arrays ``torch.W0, torch.b0, …``, so one atomic file holds one consistent state.
Its ``meta`` holds what resuming needs to continue *exactly* as an uninterrupted run would:

    kind           "handprop-train-run"
    epoch          epochs completed
    config         the TrainConfig (TrainConfig.to_dict())
    backend        handprop | torch | both
    shuffle_state  the shuffling generator's bit_generator.state after that epoch
    history        {backend: [per-epoch metrics]}, lockstep: [per-epoch differences]

Both files are written atomically (temporary file in the same folder, fsync, rename), so a run
killed at any moment leaves the previous complete epoch behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from .atomic import atomic_open
from .checkpoint import Checkpoint, CheckpointError, read_checkpoint, save_checkpoint
from .network import Network
from .backends import BACKENDS, backend_names
from .training import EpochMetrics, TrainConfig, Trainer

RUN_KIND = "handprop-train-run"
CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.json"
PathLike = Union[str, os.PathLike]


def write_json_atomic(path: PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    return path


def save_run(out_dir: PathLike, trainer: Trainer, backend_label: str) -> Path:
    """Write the checkpoint and metrics.json of ``trainer``'s state to ``out_dir``; returns the checkpoint."""
    out = Path(out_dir)
    names = list(trainer.backends)
    weights, biases = trainer.backends[names[0]].parameters()
    net = Network.from_parameters(
        weights, biases, trainer.config.hidden_per_layer, trainer.config.output, trainer.config.cost, trainer.config.dtype
    )
    extra: dict[str, np.ndarray] = {}
    for name in names[1:]:
        w, b = trainer.backends[name].parameters()
        for i, (W, B) in enumerate(zip(w, b)):
            extra[f"{name}.W{i}"], extra[f"{name}.b{i}"] = W, B
    meta = {
        "kind": RUN_KIND,
        "epoch": trainer.start_epoch,
        "config": trainer.config.to_dict(),
        "backend": backend_label,
        "shuffle_state": trainer.shuffle_rng.bit_generator.state,
        "history": {name: [asdict(m) for m in trainer.history[name]] for name in names},
        "lockstep": list(trainer.lockstep),
    }
    path = save_checkpoint(out / CHECKPOINT_NAME, net, meta, extra)
    write_json_atomic(out / METRICS_NAME, trainer.metrics(backend_label))
    return path


@dataclass
class RunState:
    """What ``load_run`` reads back: enough to rebuild the Trainer where it stopped."""

    config: TrainConfig
    backend: str
    epoch: int
    parameters: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]  # per backend
    shuffle_rng: np.random.Generator
    history: dict[str, list[EpochMetrics]]
    lockstep: list[dict[str, float]]

    def networks(self) -> dict[str, Network]:
        """Each backend's network as it was saved, to continue training from."""
        c = self.config
        return {
            name: Network.from_parameters(weights, biases, c.hidden_per_layer, c.output, c.cost, c.dtype)
            for name, (weights, biases) in self.parameters.items()
        }


def checkpoint_path(path: PathLike) -> Path:
    """``path`` itself, or ``path/checkpoint.npz`` when ``path`` is a run's folder (``--out``)."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def load_run(path: PathLike) -> RunState:
    """Read a run written by ``save_run``: its folder or its checkpoint, checking every field of its training state.

    Raises ``CheckpointError`` (a ValueError) naming the file and the field for anything that does
    not describe a run this network could continue.
    """
    path = checkpoint_path(path)
    checkpoint = read_checkpoint(path)
    if checkpoint.meta.get("kind") != RUN_KIND:
        raise ValueError(f"{path} holds a network but no training state to resume (not written by handprop train)")
    return _run_state(path, checkpoint)


def load_network(path: PathLike) -> tuple[Network, Optional[RunState]]:
    """The network of any checkpoint (or of a run's folder), with its training state (checked) when
    ``handprop train`` wrote it."""
    path = checkpoint_path(path)
    checkpoint = read_checkpoint(path)
    if checkpoint.meta.get("kind") != RUN_KIND:
        return checkpoint.network, None
    return checkpoint.network, _run_state(path, checkpoint)


def _run_state(path: PathLike, checkpoint: Checkpoint) -> RunState:
    """The training state in ``checkpoint``'s meta, every field checked against its network."""
    net, meta = checkpoint.network, checkpoint.meta

    def fail(reason: str) -> CheckpointError:
        return CheckpointError(path, reason)

    for key in ("epoch", "config", "backend", "shuffle_state", "history", "lockstep"):
        if key not in meta:
            raise fail(f"meta has no {key!r}")
    epoch = meta["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise fail(f"meta epoch must be a whole number of epochs ≥ 0, got {epoch!r}")
    if not isinstance(meta["config"], dict):
        raise fail(f"meta config must be a JSON object of training settings, got {_json_type(meta['config'])}")
    try:
        config = TrainConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as error:
        raise fail(f"meta config: {error}") from None
    arch = "-".join(map(str, config.arch))
    if (list(config.arch), config.hidden_per_layer, config.output, config.cost, config.dtype) != (
        list(net.sizes), list(net.hidden), net.output, net.cost_name, net.dtype.name
    ):
        raise fail(f"meta config describes a {arch} {config.dtype} network ({','.join(config.hidden_per_layer) or '-'} → "
                   f"{config.output}, {config.cost}) but the weights are {net!r}")
    backend = meta["backend"]
    if backend not in BACKENDS:
        raise fail(f"meta backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    names = backend_names(backend)
    parameters = {names[0]: (net.weights, net.biases)}
    for name in names[1:]:
        try:
            parameters[name] = (
                [checkpoint.extra[f"{name}.W{i}"] for i in range(net.num_layers)],
                [checkpoint.extra[f"{name}.b{i}"] for i in range(net.num_layers)],
            )
            Network.from_parameters(*parameters[name], net.hidden, net.output, net.cost_name, net.dtype)
        except KeyError as error:
            raise fail(f"backend {backend} needs the {name} parameters, but it has no extra array {error}") from None
        except ValueError as error:
            raise fail(f"the {name} parameters do not fit the network: {error}") from None
    rng = np.random.default_rng()
    try:
        rng.bit_generator.state = meta["shuffle_state"]
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise fail(f"meta shuffle_state is not a state of NumPy's {type(rng.bit_generator).__name__} generator ({error})") from None
    history = meta["history"]
    if not isinstance(history, dict) or sorted(history) != sorted(names):
        raise fail(f"meta history must map {' and '.join(names)} to per-epoch metrics, got {_json_type(history)}")
    metrics = {name: [_epoch_metrics(m, fail, f"meta history {name}") for m in _list(history[name], fail, f"meta history {name}")] for name in names}
    for name, entries in metrics.items():
        if [m.epoch for m in entries] != list(range(1, epoch + 1)):
            raise fail(f"meta history {name} covers epochs {[m.epoch for m in entries]}; expected 1 to {epoch} (meta epoch)")
    lockstep = _list(meta["lockstep"], fail, "meta lockstep")
    if not all(isinstance(entry, dict) for entry in lockstep):
        raise fail("meta lockstep must list one JSON object per epoch")
    return RunState(config, backend, epoch, parameters, rng, metrics, lockstep)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _list(value: Any, fail: Callable[[str], Exception], field: str) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{field} must be a JSON list, got {_json_type(value)}")
    return value


def _epoch_metrics(entry: Any, fail: Callable[[str], Exception], field: str) -> EpochMetrics:
    """One epoch's metrics: the five measured fields present and numbers; the settings optional."""
    names = [f.name for f in fields(EpochMetrics)]
    required = names[:5]  # epoch … train_seconds; lr, l2 and batch_size came later
    if not isinstance(entry, dict) or not set(required) <= set(entry) <= set(names):
        raise fail(f"{field} entries must be objects with {', '.join(required)} (and optionally "
                   f"{', '.join(names[5:])}), got {entry!r}")
    for key, value in entry.items():
        if (value is not None or key in required) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise fail(f"{field}: {key} must be a number, got {value!r}")
    if not isinstance(entry["epoch"], int):
        raise fail(f"{field}: epoch must be a whole number, got {entry['epoch']!r}")
    return EpochMetrics(**entry)

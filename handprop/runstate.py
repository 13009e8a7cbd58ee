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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from .atomic import atomic_open
from .checkpoint import load_checkpoint, load_checkpoint_extra, save_checkpoint
from .network import Network
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


def load_run(path: PathLike) -> RunState:
    """Read a checkpoint written by ``save_run`` (a clear ValueError for any other file)."""
    net, meta = load_checkpoint(path)
    if meta.get("kind") != RUN_KIND:
        raise ValueError(f"{path} holds a network but no training state to resume (not written by handprop train)")
    try:
        config = TrainConfig.from_dict(meta["config"])
        backend = meta["backend"]
        names = ["handprop", "torch"] if backend == "both" else [backend]
        parameters = {names[0]: (net.weights, net.biases)}
        extra = load_checkpoint_extra(path)
        L = len(net.weights)
        for name in names[1:]:
            parameters[name] = (
                [extra[f"{name}.W{i}"] for i in range(L)],
                [extra[f"{name}.b{i}"] for i in range(L)],
            )
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["shuffle_state"]
        history = {name: [EpochMetrics(**m) for m in meta["history"][name]] for name in names}
        return RunState(config, backend, int(meta["epoch"]), parameters, rng, history, list(meta["lockstep"]))
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path}: incomplete training state in the checkpoint ({error})") from None

"""Checkpoints: one ``.npz`` format that both backends read and write.

A checkpoint holds ``W0, b0, W1, b1, …`` (``W`` shaped (out, in)), the architecture as JSON under
``config`` (sizes, hidden and output activations, cost, dtype), and free-form JSON under ``meta``
(epoch, optimiser settings, the shuffling generator's state, …), and optionally extra named arrays
under ``extra/<name>`` (for example the PyTorch twin's parameters when both backends train side by
side, so one file holds one consistent state). It is written atomically — to a
temporary file in the same folder, flushed to disk, then renamed over the target — so a run killed
mid-write leaves either the old checkpoint or the new one, never half of one. Loading never
unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .atomic import atomic_open
from .network import Network

FORMAT = "handprop-checkpoint-v1"
EXTRA_PREFIX = "extra/"
PathLike = Union[str, os.PathLike]


def save_checkpoint(
    path: PathLike,
    net: Network,
    meta: Optional[dict[str, Any]] = None,
    extra: Optional[dict[str, np.ndarray]] = None,
) -> Path:
    """Write ``net`` (and ``meta``, which must be JSON-serialisable) to ``path`` atomically.

    ``extra`` maps names to arrays stored beside the network; read them with ``load_checkpoint_extra``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "config": np.array(json.dumps(net.config())),
        "meta": np.array(json.dumps(meta or {})),
    }
    for i, (W, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"W{i}"] = W
        arrays[f"b{i}"] = b
    for name, array in (extra or {}).items():
        arrays[f"{EXTRA_PREFIX}{name}"] = np.asarray(array)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_checkpoint(path: PathLike) -> tuple[Network, dict[str, Any]]:
    """(network, meta) from a checkpoint written by ``save_checkpoint``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != FORMAT:
                raise ValueError(f"{path} is not a handprop checkpoint (expected format {FORMAT})")
            config = json.loads(str(data["config"]))
            meta = json.loads(str(data["meta"]))
            L = len(config["sizes"]) - 1
            weights = [data[f"W{i}"] for i in range(L)]
            biases = [data[f"b{i}"] for i in range(L)]
            names = {key: config[key] for key in ("hidden", "output", "cost", "dtype")}
    except KeyError as error:
        raise ValueError(f"{path} is not a complete handprop checkpoint: it has no {error}") from None
    except (OSError, json.JSONDecodeError, EOFError) as error:
        raise ValueError(f"{path} is not a readable handprop checkpoint: {error}") from None
    except ValueError as error:
        if "handprop checkpoint" in str(error):
            raise
        raise ValueError(f"{path} is not a readable handprop checkpoint: {error}") from None
    net = Network.from_parameters(weights, biases, **names)
    if list(net.sizes) != list(config["sizes"]):
        raise ValueError(f"{path}: stored sizes {config['sizes']} do not match its weights {list(net.sizes)}")
    return net, meta


def load_checkpoint_extra(path: PathLike) -> dict[str, np.ndarray]:
    """The extra arrays saved with ``save_checkpoint(..., extra=...)``, by name (empty if none)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k[len(EXTRA_PREFIX) :]: data[k] for k in data.files if k.startswith(EXTRA_PREFIX)}
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable handprop checkpoint: {error}") from None

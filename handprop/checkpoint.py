"""Checkpoints: one ``.npz`` format that both backends read and write, and one loader that checks it.

A checkpoint holds ``W0, b0, W1, b1, …`` (``W`` shaped (out, in)), the architecture as JSON under
``config`` (sizes, hidden and output activations, cost, dtype), and free-form JSON under ``meta``
(epoch, optimiser settings, the shuffling generator's state, …), and optionally extra named arrays
under ``extra/<name>`` (for example the PyTorch twin's parameters when both backends train side by
side, so one file holds one consistent state). It is written atomically — to a
temporary file in the same folder, flushed to disk, then renamed over the target — so a run killed
mid-write leaves either the old checkpoint or the new one, never half of one.

``read_checkpoint`` is the only reader. It never unpickles and never trusts a header: it checks the
zip archive (every member's CRC), every array's ``.npy`` header against its byte count, the entries
present, the dtypes, the ``config`` schema, the weights' shapes against the sizes, and that ``meta`` is
a JSON object. Any failure raises ``CheckpointError``: "PATH is not a handprop checkpoint: …" with
the entry or field at fault. (What a training run adds to ``meta`` is checked by ``runstate.load_run``.)
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from .atomic import atomic_open
from .checks import DTYPES
from .network import Network

FORMAT = "handprop-checkpoint-v1"
EXTRA_PREFIX = "extra/"
CONFIG_KEYS = ("sizes", "hidden", "output", "cost", "dtype")
PathLike = Union[str, os.PathLike]


class CheckpointError(ValueError):
    """A file that is not a complete, consistent handprop checkpoint; the message names it and why."""

    def __init__(self, path: PathLike, reason: str) -> None:
        super().__init__(f"{path} is not a handprop checkpoint: {reason}")
        self.path, self.reason = Path(path), reason


@dataclass
class Checkpoint:
    """Everything one checkpoint file holds, checked."""

    network: Network
    meta: dict[str, Any]
    extra: dict[str, np.ndarray]


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
    """(network, meta) from a checkpoint written by ``save_checkpoint`` (checked: see ``read_checkpoint``)."""
    checkpoint = read_checkpoint(path)
    return checkpoint.network, checkpoint.meta


def load_checkpoint_extra(path: PathLike) -> dict[str, np.ndarray]:
    """The extra arrays saved with ``save_checkpoint(..., extra=...)``, by name (empty if none)."""
    return read_checkpoint(path).extra


def read_checkpoint(path: PathLike) -> Checkpoint:
    """The network, meta and extra arrays of the checkpoint at ``path``, every part checked.

    Raises ``FileNotFoundError`` when there is no such file and ``CheckpointError`` (a ValueError)
    for anything else that is not a complete, consistent checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(path, "it is a folder, not a .npz file")
    arrays = _read_npz(path)

    def fail(reason: str) -> CheckpointError:
        return CheckpointError(path, reason)

    if "format" not in arrays:
        raise fail("it has no 'format' entry (a .npz from somewhere else?)")
    fmt = _text(arrays["format"])
    if fmt != FORMAT:
        raise fail(f"its format is {fmt!r}; expected {FORMAT!r}")
    for key in ("config", "meta"):
        if key not in arrays:
            raise fail(f"it has no {key!r} entry")
    config = _json_object(_text(arrays["config"]), "config", fail)
    meta = _json_object(_text(arrays["meta"]), "meta", fail)
    sizes = _check_config(config, fail)
    L = len(sizes) - 1
    weights, biases = [], []
    for i in range(L):
        for name, shape in ((f"W{i}", (sizes[i + 1], sizes[i])), (f"b{i}", (sizes[i + 1],))):
            if name not in arrays:
                raise fail(f"it has no {name!r} entry (config sizes {sizes} need W0…W{L - 1} and b0…b{L - 1})")
            array = arrays[name]
            if array.dtype.name != config["dtype"]:
                raise fail(f"{name} is {array.dtype}; expected {config['dtype']} (config dtype)")
            if array.shape != shape:
                raise fail(f"{name} has shape {array.shape}; expected {shape} for config sizes {sizes}")
            if not np.isfinite(array).all():
                raise fail(f"{name} contains NaN or infinite values")
        weights.append(arrays[f"W{i}"])
        biases.append(arrays[f"b{i}"])
    known = {"format", "config", "meta", *(f"{p}{i}" for p in "Wb" for i in range(L))}
    unexpected = [k for k in arrays if k not in known and not k.startswith(EXTRA_PREFIX)]
    if unexpected:
        raise fail(f"unexpected entries {', '.join(map(repr, sorted(unexpected)))} (config sizes {sizes} have {L} layers)")
    try:
        net = Network.from_parameters(weights, biases, config["hidden"], config["output"], config["cost"], config["dtype"])
    except (ValueError, TypeError) as error:
        raise fail(f"config: {error}") from None
    extra = {k[len(EXTRA_PREFIX) :]: v for k, v in arrays.items() if k.startswith(EXTRA_PREFIX)}
    return Checkpoint(net, meta, extra)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    return read_npz(path, lambda reason: CheckpointError(path, reason), "a checkpoint.npz written by handprop train or save_checkpoint")


class _Damaged(Exception):
    """Raised inside ``read_npz`` with the reason, turned into the caller's own error."""


def read_npz(path: Path, fail: Callable[[str], Exception], expected: str) -> dict[str, np.ndarray]:
    """Every array of the .npz at ``path``, read without pickles and without trusting any header.

    Any failure raises ``fail(reason)`` (the caller's error naming the file); ``expected`` says what
    the file should have been, for a file that is no .npz at all.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as error:
        raise fail(f"it cannot be read ({error.strerror or error})") from None
    if magic != b"PK\x03\x04":  # what every zip (and so every .npz) starts with
        raise fail(f"it is not a .npz archive (expected {expected})")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise _Damaged(f"its archive holds {info.filename!r}, which is not a .npy array")
                data = archive.read(info)  # checks the CRC-32: a flipped bit fails here
                arrays[info.filename[: -len(".npy")]] = _parse_npy(data, info.filename)
    except _Damaged as damaged:
        raise fail(str(damaged)) from None
    except Exception as error:  # only bytes are parsed here: every failure means a damaged archive
        raise fail(f"its zip archive is damaged ({type(error).__name__}: {error})") from None
    return arrays


def _parse_npy(data: bytes, member: str) -> np.ndarray:
    """One ``.npy`` member: its header must describe exactly the bytes that follow it."""
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    if dtype.hasobject:
        raise _Damaged(f"{member} holds Python objects; only numbers and text are read")
    count = int(np.prod(shape, dtype=object))
    offset = fp.tell()
    if count * dtype.itemsize != len(data) - offset:
        raise _Damaged(f"{member} is damaged: its header promises {count * dtype.itemsize} bytes, it holds {len(data) - offset}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()  # writable, owns its memory
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)


def _text(array: np.ndarray) -> Optional[str]:
    """The string in a 0-d text array, else None."""
    return str(array[()]) if array.shape == () and array.dtype.kind == "U" else None


def _json_object(text: Optional[str], key: str, fail: Any) -> dict[str, Any]:
    if text is None:
        raise fail(f"{key} is not a text entry")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise fail(f"{key} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise fail(f"{key} is a JSON {type(value).__name__}; expected a JSON object")
    return value


def _check_config(config: dict[str, Any], fail: Any) -> list[int]:
    """The sizes of a ``config`` whose every field has the right type (names are checked by Network)."""
    for key in CONFIG_KEYS:
        if key not in config:
            raise fail(f"config has no {key!r}")
    sizes = config["sizes"]
    if not (
        isinstance(sizes, list) and len(sizes) >= 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)
    ):
        raise fail(f"config sizes must list at least two positive layer widths, got {sizes!r}")
    hidden = config["hidden"]
    if not (isinstance(hidden, list) and len(hidden) == len(sizes) - 2 and all(isinstance(h, str) for h in hidden)):
        raise fail(f"config hidden must list {len(sizes) - 2} activation names (one per hidden layer), got {hidden!r}")
    for key in ("output", "cost"):
        if not isinstance(config[key], str):
            raise fail(f"config {key} must be a name, got {config[key]!r}")
    if config["dtype"] not in DTYPES:
        raise fail(f"config dtype must be one of {', '.join(DTYPES)}, got {config['dtype']!r}")
    return sizes

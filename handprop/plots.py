"""Figures of a training run: each function returns a matplotlib Figure and writes a file only when given a path.

The figures are built on ``matplotlib.figure.Figure`` directly, not through pyplot: nothing changes
matplotlib's backend or pyplot's list of open figures, so a notebook keeps its inline figures and a
long script does not accumulate them. In Jupyter a returned Figure displays inline as usual (after
``%matplotlib inline`` or any pyplot import); ``fig.savefig(path)`` works anywhere.
matplotlib is imported only when plotting.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]


def new_figure(**kwargs: Any) -> "Figure":
    """A Figure that belongs to no pyplot window and leaves the backend alone."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save(fig: "Figure", path: Optional[PathLike], dpi: int = 100) -> None:
    """Write ``fig`` to ``path`` (format from the suffix) atomically when a path is given; creates the folder."""
    from .atomic import atomic_open

    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:  # the temporary name has another suffix: the format is said
        fig.savefig(f, dpi=dpi, format=path.suffix[1:].lower() or "png")
    logger.info("wrote %s", path)


def _as_dict(m: Any) -> Mapping[str, Any]:
    if dataclasses.is_dataclass(m) and not isinstance(m, type):
        return dataclasses.asdict(m)
    if isinstance(m, Mapping):
        return m
    raise TypeError(f"each epoch must be an EpochMetrics or a dict of its fields, got {type(m).__name__}")


def plot_curves(history: Mapping[str, Sequence[Any]], path: Optional[PathLike] = None) -> "Figure":
    """Cost (train and test, mean per example) and test accuracy per epoch, one line per backend.

    ``history`` maps a backend name to its epochs, as ``EpochMetrics`` (``run.history``,
    ``trainer.history``) or dicts of the same fields (metrics.json's ``epochs``).
    """
    from matplotlib.ticker import MaxNLocator

    fig = new_figure(figsize=(10, 4), layout="tight")
    ax_cost, ax_acc = fig.subplots(1, 2)
    for name, epochs in history.items():
        rows = [_as_dict(m) for m in epochs]
        e = [m["epoch"] for m in rows]
        ax_cost.plot(e, [m["train_cost"] for m in rows], marker=".", label=f"{name} train")
        ax_cost.plot(e, [m["test_cost"] for m in rows], marker=".", linestyle="--", label=f"{name} test")
        ax_acc.plot(e, [100 * m["test_accuracy"] for m in rows], marker=".", label=name)
    ax_cost.set(xlabel="epoch", ylabel="mean cost per example", title="cost")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy on the test set")
    for ax in (ax_cost, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    save(fig, path)
    return fig


def plot_first_layer(W: np.ndarray, path: Optional[PathLike] = None, max_units: int = 64) -> "Figure":
    """Each first-layer unit's weights (a row of W^1, (out, 784)) as a 28×28 image, blue < 0 < red."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"first-layer weights must be a 2-D array (units, inputs), got shape {W.shape}")
    side = math.isqrt(W.shape[1])
    if side * side != W.shape[1]:
        raise ValueError(f"first-layer weights have {W.shape[1]} inputs, not a square image")
    units = min(W.shape[0], max_units)
    cols = math.ceil(math.sqrt(units))
    rows = math.ceil(units / cols)
    fig = new_figure(figsize=(1.3 * cols, 1.3 * rows), layout="tight")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < units:
            limit = float(np.abs(W[i]).max()) or 1.0  # symmetric colour scale per unit
            ax.imshow(W[i].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"first-layer weights ({units} of {W.shape[0]} units)")
    save(fig, path)
    return fig

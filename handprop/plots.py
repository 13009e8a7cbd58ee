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


# each backend its own colour, marker and line, so that lockstep runs (identical curves) show both
BACKEND_STYLE = {
    "handprop": dict(color="tab:blue", marker="o", markersize=6),
    "torch": dict(color="tab:orange", marker="s", markersize=10, markerfacecolor="none", markeredgewidth=1.5),
}
COST_LABELS = {"quadratic": "quadratic cost ½‖a − y‖²", "cross_entropy": "cross-entropy cost"}


def plot_curves(
    history: Mapping[str, Sequence[Any]], path: Optional[PathLike] = None, cost: Optional[str] = None,
    title: Optional[str] = None,
) -> "Figure":
    """Cost (train and test, mean per example) and test accuracy per epoch, one line per backend.

    ``history`` maps a backend name to its epochs, as ``EpochMetrics`` (``run.history``,
    ``trainer.history``) or dicts of the same fields (metrics.json's ``epochs``). ``cost`` names the
    cost on the axis (quadratic, cross_entropy); ``title`` names the run (its folder, say). With up to
    three epochs each point is labelled with its value, since a single point has no curve to read.
    """
    from matplotlib.ticker import MaxNLocator

    # margins fixed by hand: the tight layout measured every label again and took a third of the time
    fig = new_figure(figsize=(10, 4.4))
    fig.subplots_adjust(left=0.1, right=0.985, bottom=0.12, top=0.86 if title else 0.92, wspace=0.24)  # room for 0.08065-wide ticks
    ax_cost, ax_acc = fig.subplots(1, 2)
    n_epochs = max((len(epochs) for epochs in history.values()), default=0)
    for i, (name, epochs) in enumerate(history.items()):
        rows = [_as_dict(m) for m in epochs]
        e = [m["epoch"] for m in rows]
        style = BACKEND_STYLE.get(name, dict(marker="^", markersize=8))
        series = [
            (ax_cost, [m["train_cost"] for m in rows], "-", f"{name} train", "{:.4f}"),
            (ax_cost, [m["test_cost"] for m in rows], "--", f"{name} test", "{:.4f}"),
            (ax_acc, [100 * m["test_accuracy"] for m in rows], "-", name, "{:.2f}%"),
        ]
        for ax, values, linestyle, label, fmt in series:
            ax.plot(e, values, linestyle=linestyle, label=label, **style)
            if n_epochs <= 3:  # single points: say their values, one backend to each side
                for x, v in zip(e, values):
                    ax.annotate(fmt.format(v), (x, v), xytext=(8 if i % 2 == 0 else -8, 0), textcoords="offset points",
                                ha="left" if i % 2 == 0 else "right", va="center", fontsize=8, color=style.get("color"))
    cost_label = COST_LABELS.get(cost, f"{cost} cost") if cost else "cost"
    ax_cost.set(xlabel="epoch", ylabel=f"{cost_label}, mean per example", title=cost_label)
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy on the test set")
    for ax in (ax_cost, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        if n_epochs <= 3:
            ax.set_xlim(0.5, n_epochs + 0.5)
            ax.set_xticks(range(1, n_epochs + 1))
            ax.margins(y=0.25)  # room for the labels, and a scale around a single point that is not ±5 %
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    save(fig, path)
    return fig


def plot_first_layer(
    W: np.ndarray, path: Optional[PathLike] = None, max_units: int = 64, title: Optional[str] = None
) -> "Figure":
    """Each first-layer unit's weights (a row of W^1, (out, 784)) as a 28×28 image, blue < 0 < red, on
    one colour scale with its colour bar; ``title`` names the run."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"first-layer weights must be a 2-D array (units, inputs), got shape {W.shape}")
    side = math.isqrt(W.shape[1])
    if side * side != W.shape[1]:
        raise ValueError(f"first-layer weights have {W.shape[1]} inputs, not a square image")
    units = min(W.shape[0], max_units)
    cols = math.ceil(math.sqrt(units))
    rows = math.ceil(units / cols)
    width, height = max(1.3 * cols + 1.2, 4.8), 1.3 * rows + 0.6  # wide enough for the heading
    fig = new_figure(figsize=(width, height))
    # Margins in inches, placed by hand: a layout engine measured every hidden tick of the 16-64
    # panels and took 2-3 times as long as the rest of the figure (0.6 s of every `train --out`).
    top = (0.75 if title else 0.5) / height
    grid = fig.add_gridspec(rows, cols, left=0.15 / width, right=1 - 1.2 / width, bottom=0.1 / height, top=1 - top,
                            wspace=0.15, hspace=0.3)  # fmt: skip
    limit = float(np.abs(W[:units]).max()) or 1.0  # one symmetric scale for all units, so they compare
    image = None
    for i in range(rows * cols):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        ax.set_axis_off()
        if i < units:
            image = ax.imshow(W[i].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"unit {i}", fontsize=7)
    span = 1 - top - 0.1 / height
    bar = fig.colorbar(image, cax=fig.add_axes((1 - 0.95 / width, 0.1 / height + 0.1 * span, 0.15 / width, 0.8 * span)))
    bar.set_label("weight from each pixel (blue < 0 < red)" if rows > 1 else "weight\n(blue < 0 < red)", fontsize=10 if rows > 1 else 8)
    heading = f"first-layer weights W¹: {units} of {W.shape[0]} units, {side}×{side} pixels each"
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize=10)
    save(fig, path)
    return fig

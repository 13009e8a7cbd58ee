"""PNG plots of a training run (matplotlib with the Agg backend, imported only when plotting)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

PathLike = Union[str, os.PathLike]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict[str, list[dict[str, Any]]], path: PathLike) -> Path:
    """Cost (train and test, mean per example) and test accuracy per epoch, one line per backend."""
    plt = _pyplot()
    fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, epochs in history.items():
        e = [m["epoch"] for m in epochs]
        ax_cost.plot(e, [m["train_cost"] for m in epochs], marker=".", label=f"{name} train")
        ax_cost.plot(e, [m["test_cost"] for m in epochs], marker=".", linestyle="--", label=f"{name} test")
        ax_acc.plot(e, [100 * m["test_accuracy"] for m in epochs], marker=".", label=name)
    ax_cost.set(xlabel="epoch", ylabel="mean cost per example", title="cost")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="accuracy on the test set")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_cost, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_first_layer(W: np.ndarray, path: PathLike, max_units: int = 64) -> Path:
    """Each first-layer unit's weights (a row of W^1, (out, 784)) as a 28×28 image, blue < 0 < red."""
    side = math.isqrt(W.shape[1])
    if side * side != W.shape[1]:
        raise ValueError(f"first-layer weights have {W.shape[1]} inputs, not a square image")
    plt = _pyplot()
    units = min(W.shape[0], max_units)
    cols = math.ceil(math.sqrt(units))
    rows = math.ceil(units / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < units:
            limit = float(np.abs(W[i]).max()) or 1.0  # symmetric colour scale per unit
            ax.imshow(W[i].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"first-layer weights ({units} of {W.shape[0]} units)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

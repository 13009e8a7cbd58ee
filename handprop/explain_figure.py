"""A slide for one example: the digit, the outputs' wishes, layer L-1's wishes, first-layer nudges.

Top row: the input image; the output activations as bars with arrows for the desired changes
−∂C_x/∂a^L (for the quadratic cost each arrow ends exactly on the target); the previous layer's
desired changes summed over all outputs. Bottom row: for the hidden neurons of layer 1 with the
largest weight gradients, the nudge −∂C_x/∂W^1_k of their 784 incoming weights drawn as 28×28 maps in
a diverging colormap centred at 0 (red: increase the weight, blue: decrease it). Since
∂C_x/∂W^1_kp = δ^1_k x_p, each map is the digit itself scaled by −δ^1_k: only lit pixels' weights move.

``draw_explanation`` returns the Figure (built without pyplot: the backend is left alone, so it shows
inline in a notebook) and writes it only when given a path; ``save_figure`` writes the PNG. matplotlib
is imported lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import numpy as np

from .explain import ExampleExplanation

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def save_figure(
    e: ExampleExplanation, path: Union[str, os.PathLike], title: str = "", maps: int = 4, dpi: int = 150
) -> Path:
    """Draw ``e`` as a PNG at ``path`` and return the path. ``maps`` is the number of 28×28 heat maps."""
    draw_explanation(e, path, title=title, maps=maps, dpi=dpi)
    return Path(path)


def draw_explanation(
    e: ExampleExplanation, path: Optional[Union[str, os.PathLike]] = None, title: str = "", maps: int = 4, dpi: int = 150
) -> "Figure":
    """The slide for ``e`` as a matplotlib Figure; written to ``path`` only when one is given."""
    if isinstance(maps, bool) or not isinstance(maps, int) or maps < 1:
        raise ValueError(f"maps must be a positive integer, got {maps!r}")
    side = math.isqrt(e.image.size)
    if side * side != e.image.size:
        raise ValueError(f"the input has {e.image.size} values, not a square image; cannot draw it")
    from matplotlib.colors import TwoSlopeNorm

    from .plots import new_figure, save

    L, o = e.layer, e.outputs
    grads = e.first_layer_nabla_w  # ∂C_x/∂W^1, (units of layer 1, inputs)
    norms = np.linalg.norm(grads, axis=1)  # (units,)
    chosen = [int(k) for k in np.argsort(-norms, kind="stable")[: min(maps, len(norms))]]

    fig = new_figure(figsize=(15, 8.6), layout="constrained")
    grid = fig.add_gridspec(2, max(len(chosen), 3) + 1, height_ratios=[1.15, 1])
    top = grid[0, :].subgridspec(1, 3, width_ratios=[0.9, 1.6, 1.6])

    ax = fig.add_subplot(top[0])
    ax.imshow(e.image.reshape(side, side), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"input x: label {e.label}", fontsize=13)
    ax.set_xticks([])
    ax.set_yticks([])

    ax = fig.add_subplot(top[1])
    n_out = len(o.activations)
    colors = ["#2a9d8f" if i == e.label else "#8d99ae" for i in range(n_out)]
    ax.bar(range(n_out), o.activations, color=colors, width=0.6, label="a now")
    ax.scatter(range(n_out), o.targets, marker="_", s=500, color="black", linewidths=2, label="target y", zorder=3)
    span = float(np.abs(o.desired).max()) if np.abs(o.desired).max() > 0 else 1.0
    scale = 1.0 if span <= 1.0 else 1.0 / span  # cross-entropy's −∂C/∂a can exceed 1: shrink the arrows
    for i, (a, d) in enumerate(zip(o.activations, o.desired)):
        if d != 0:
            # an arrowhead has a fixed size: on a tiny change it would look like a big wish
            style = "-|>" if abs(scale * d) >= 0.04 else "-"
            ax.annotate("", xy=(i, a + scale * d), xytext=(i, a),
                        arrowprops=dict(arrowstyle=style, lw=2.2, mutation_scale=16, shrinkA=0, shrinkB=0,
                                        color="#2b9348" if d > 0 else "#d62828"))
    ax.set_xticks(range(n_out))
    ax.set_xlabel("output neuron (digit)")
    ax.set_ylim(min(-0.05, float((o.activations + scale * o.desired).min()) - 0.05),
                max(1.1, float((o.activations + scale * o.desired).max()) + 0.05))
    note = "" if scale == 1.0 else f" (arrows ×{scale:.2g})"
    ax.set_title(f"output layer {L}: a now, and desired change −∂C/∂a{note}", fontsize=13)
    ax.legend(loc="upper right", fontsize=9, framealpha=0.9)

    ax = fig.add_subplot(top[2])
    wishes = e.avenues.previous_desired  # −∂C_x/∂a^(L-1), (prev,)
    ax.bar(range(len(wishes)), wishes, color=["#2b9348" if w > 0 else "#d62828" for w in wishes], width=0.7)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(wishes)))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(f"neuron k of layer {L - 1}")
    ax.set_title(f"layer {L - 1}'s desired change −∂C/∂a{L - 1}_k\n(summed over all {n_out} outputs)", fontsize=13)

    limit = float(np.abs(grads[chosen]).max()) or 1.0  # one colour scale for all maps: comparable
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    image = None
    for col, k in enumerate(chosen):
        ax = fig.add_subplot(grid[1, col])
        image = ax.imshow(-grads[k].reshape(side, side), cmap="RdBu_r", norm=norm)
        ax.set_title(f"hidden neuron {k} of layer 1\nδ¹ = {e.first_layer_nabla_b[k]:+.2e}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    cax = fig.add_subplot(grid[1, len(chosen)])
    cax.axis("off")
    bar = fig.colorbar(image, ax=cax, fraction=0.5, shrink=0.9, location="left")
    bar.set_label("nudge −∂C/∂w¹ (red: increase, blue: decrease)", fontsize=10)
    cax.text(0.55, 0.5, f"first layer:\nnudges to the\n784 incoming\nweights of the\n{len(chosen)} hidden neurons\n"
                        f"with the largest\n‖∂C/∂W¹_k‖", transform=cax.transAxes, va="center", fontsize=10)

    heading = title or f"Backpropagation for one example (label {e.label})"
    fig.suptitle(f"{heading}\npredicted {e.prediction}, cost C_x = {o.cost:.4f}", fontsize=15)
    save(fig, path, dpi=dpi)
    return fig

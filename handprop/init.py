"""Initial weights and biases, drawn from an explicit ``numpy.random.Generator`` (never global state).

- ``normal``: every weight and bias ~ N(0, 1), as in Nielsen's ``network.py`` and the video.
- ``xavier``: Glorot normal, W ~ N(0, 2 / (in + out)), biases 0; keeps the variance of sigmoid and
  tanh layers roughly constant.
- ``he``: W ~ N(0, 2 / in), biases 0; the right scale for ReLU layers.

Numbers are drawn in float64 and then cast, so a float32 and a float64 network made from the same
seed hold the same parameters up to rounding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

INITS = ("normal", "xavier", "he")


def initial_parameters(
    sizes: Sequence[int], init: str, rng: np.random.Generator, dtype: np.dtype
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights ``(out, in)`` and biases ``(out,)`` for each layer of a network with ``sizes`` units."""
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of: {', '.join(INITS)}")
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = rng.standard_normal((n_out, n_in))  # (out, in)
        if init == "normal":
            b = rng.standard_normal(n_out)  # (out,)
        else:
            scale = np.sqrt(2.0 / (n_in + n_out)) if init == "xavier" else np.sqrt(2.0 / n_in)
            W = W * scale
            b = np.zeros(n_out)
        weights.append(W.astype(dtype))
        biases.append(b.astype(dtype))
    return weights, biases

"""Validation at the boundary: user arrays are checked once, with messages that say what was expected.

The inner loops (forward, backprop) trust what comes out of here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def as_dtype(dtype: Any) -> np.dtype:
    """'float32' / 'float64' (or the NumPy types) as a NumPy dtype; anything else is an error."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected one of: {', '.join(DTYPES)}")
    return resolved


def check_inputs(X: Any, n_inputs: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a finite (n, n_inputs) array of ``dtype``."""
    x = np.asarray(X)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{name} must be a numeric array of shape (n, {n_inputs}), got dtype {x.dtype}")
    if np.iscomplexobj(x):  # casting would silently drop the imaginary part
        raise TypeError(f"{name} must be a real numeric array of shape (n, {n_inputs}), got complex dtype {x.dtype}")
    if x.ndim != 2:
        hint = f"; for one example use {name}.reshape(1, -1)" if x.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D with shape (n, {n_inputs}) (batch first), got shape {x.shape}{hint}"
        )
    if x.shape[1] != n_inputs:
        raise ValueError(
            f"{name} has {x.shape[1]} columns but the network's input layer has {n_inputs} units: "
            f"expected shape (n, {n_inputs}), got {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {x.shape}); expected at least one example")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values; expected finite numbers")
    if x.dtype != dtype:  # a narrowing cast would overflow to inf (with a warning): check first
        largest, limit = float(np.abs(x).max()), float(np.finfo(dtype).max)
        if largest > limit:
            raise ValueError(f"{name} has values up to {largest:.3g}, beyond the range of {np.dtype(dtype).name} (±{limit:.3g})")
    return x.astype(dtype, copy=False)


def check_targets(
    Y: Any, n: int, n_outputs: int, dtype: np.dtype, probabilities: bool, name: str = "Y"
) -> np.ndarray:
    """Targets as an (n, n_outputs) array of ``dtype``.

    Accepts one-hot (or any real-valued) rows of shape (n, n_outputs), or integer class labels of
    shape (n,) in [0, n_outputs), which become one-hot rows. ``probabilities`` demands values in
    [0, 1] (cross-entropy targets).
    """
    y = np.asarray(Y)
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {y.dtype}")
    if np.iscomplexobj(y):  # casting would silently drop the imaginary part
        raise TypeError(f"{name} must be a real numeric array, got complex dtype {y.dtype}")
    if y.ndim == 1:
        if y.shape[0] != n:
            raise ValueError(f"{name} has {y.shape[0]} labels but X has {n} examples; expected shape ({n},)")
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
                y = y.astype(np.int64)
            else:
                raise TypeError(
                    f"1-D {name} must hold integer class labels in [0, {n_outputs}), got dtype {y.dtype}; "
                    f"pass real-valued targets as an ({n}, {n_outputs}) array"
                )
        if y.min() < 0 or y.max() >= n_outputs:
            bad = y[(y < 0) | (y >= n_outputs)]
            raise ValueError(
                f"{name} has labels out of range (e.g. {int(bad[0])}); expected integers in [0, {n_outputs - 1}]"
            )
        onehot = np.zeros((n, n_outputs), dtype=dtype)  # (n, out)
        onehot[np.arange(n), y] = 1
        return onehot
    if y.ndim != 2 or y.shape != (n, n_outputs):
        raise ValueError(
            f"{name} has shape {y.shape}; expected one-hot rows of shape ({n}, {n_outputs}) "
            f"or integer labels of shape ({n},)"
        )
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinite values; expected finite targets")
    if y.dtype != dtype and np.abs(y).max() > np.finfo(dtype).max:  # before a narrowing cast
        raise ValueError(f"{name} has values beyond the range of {np.dtype(dtype).name}")
    y = y.astype(dtype, copy=False)
    if probabilities and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"cross-entropy targets must lie in [0, 1]; {name} ranges over [{y.min()}, {y.max()}]")
    return y

"""Validation at the boundary: user arrays are checked once, with messages that say what was expected.

The inner loops (forward, backprop) trust what comes out of here.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

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


def as_real_array(value: Any, name: str, expected: str = "") -> np.ndarray:
    """``value`` as a real numeric NumPy array (not yet cast); ``expected`` reads " of shape (…)".

    One policy for every array a user hands the engine: ragged nesting is a ValueError; None,
    strings, objects and complex numbers (whose imaginary part a cast would drop silently) are
    TypeErrors. Each message says what was expected.
    """
    try:
        x = np.asarray(value)
    except (ValueError, TypeError):  # NumPy's "inhomogeneous shape": nested lists of unequal lengths
        raise ValueError(f"{name} is ragged (its rows have different lengths); expected a rectangular array{expected}") from None
    if x.dtype == object and x.ndim == 0:
        raise TypeError(f"{name} must be a numeric array{expected}, got {type(value).__name__}")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{name} must be a numeric array{expected}, got dtype {x.dtype}")
    if np.iscomplexobj(x):  # casting would silently drop the imaginary part
        raise TypeError(f"{name} must be a real numeric array{expected}, got complex dtype {x.dtype}")
    return x


def is_finite_array(x: np.ndarray) -> bool:
    """Whether every value of ``x`` is finite, usually in one pass without a temporary array.

    A NaN or an infinity makes the sum NaN or infinite, so a finite sum proves every value finite;
    only a sum that overflowed (values near the dtype's limit) needs the element-wise look.
    """
    if x.dtype.kind in "biu":  # integers and booleans are always finite
        return True
    if x.dtype.kind not in "fc":  # anything else as NumPy says (an object array: its TypeError)
        return bool(np.isfinite(x).all())
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(x, axis=None)
    return bool(np.isfinite(total)) or bool(np.isfinite(x).all())


def cast_finite(x: np.ndarray, dtype: np.dtype, name: str) -> np.ndarray:
    """``x`` cast to ``dtype`` after checking it is finite and within that dtype's range."""
    if not is_finite_array(x):
        bad = int((~np.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite values; expected finite numbers")
    if x.dtype != dtype and x.size:  # a narrowing cast would overflow to inf (with a warning): check first
        largest, limit = float(np.abs(x).max()), float(np.finfo(dtype).max)
        if largest > limit:
            raise ValueError(f"{name} has values up to {largest:.3g}, beyond the range of {np.dtype(dtype).name} (±{limit:.3g})")
    return x.astype(dtype, copy=False)


def check_seed(seed: Any) -> np.random.Generator:
    """A Generator from ``seed``: a non-negative int or a ``numpy.random.Generator`` (never global state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.default_rng(int(seed))


def available_memory() -> Optional[int]:
    """Bytes a new allocation can take: MemAvailable, capped by a cgroup limit; None if unknown."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            found += [int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            pass
    try:  # cgroup v2 (containers): the limit left to this group
        limit = open("/sys/fs/cgroup/memory.max", encoding="ascii").read().strip()
        if limit != "max":
            used = int(open("/sys/fs/cgroup/memory.current", encoding="ascii").read())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_parameter_memory(sizes: Sequence[int], dtype: Any) -> int:
    """The number of parameters of a network with layer widths ``sizes``, if they fit in memory.

    Refused before anything is allocated: the parameters in ``dtype`` plus one layer drawn in
    float64 (initialisation draws in float64, then casts) must fit in the memory available now.
    """
    layers = [(n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:])]  # weights and biases
    count = sum(layers)
    needed = count * np.dtype(dtype).itemsize + max(layers) * 8
    available = available_memory()
    if available is not None and needed > available:
        arch = "-".join(map(str, sizes))
        raise ValueError(
            f"a {arch} network has {count:,} parameters, {format_bytes(needed)} in {np.dtype(dtype).name}: more "
            f"than the {format_bytes(available)} of memory available; choose smaller layer widths"
        )
    return count


def check_inputs(X: Any, n_inputs: int, dtype: np.dtype, name: str = "X") -> np.ndarray:
    """X as a finite (n, n_inputs) array of ``dtype``."""
    x = as_real_array(X, name, f" of shape (n, {n_inputs})")
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
    return cast_finite(x, dtype, name)


def check_targets(
    Y: Any, n: int, n_outputs: int, dtype: np.dtype, probabilities: bool, name: str = "Y"
) -> np.ndarray:
    """Targets as an (n, n_outputs) array of ``dtype``.

    Raises TypeError or ValueError (see ``as_real_array``) saying what was expected.

    Accepts one-hot (or any real-valued) rows of shape (n, n_outputs), or integer class labels of
    shape (n,) in [0, n_outputs), which become one-hot rows. ``probabilities`` demands values in
    [0, 1] (cross-entropy targets).
    """
    y = as_real_array(Y, name)
    if y.ndim == 1:
        if y.shape[0] != n:
            raise ValueError(f"{name} has {y.shape[0]} labels but X has {n} examples; expected shape ({n},)")
        integral = np.issubdtype(y.dtype, np.integer) or y.dtype == bool or (
            np.isfinite(y).all() and (y == np.round(y)).all()
        )
        if not integral:
            raise TypeError(
                f"1-D {name} must hold integer class labels in [0, {n_outputs}), got dtype {y.dtype}; "
                f"pass real-valued targets as an ({n}, {n_outputs}) array"
            )
        out_of_range = (y < 0) | (y >= n_outputs)  # checked before the cast: 1e20 has no int64
        if out_of_range.any():
            bad = y[out_of_range][0]
            shown = f"{bad:g}" if isinstance(bad, np.floating) and abs(bad) >= 1e15 else str(int(bad))
            raise ValueError(f"{name} has labels out of range (e.g. {shown}); expected integers in [0, {n_outputs - 1}]")
        y = y.astype(np.int64)
        onehot = np.zeros((n, n_outputs), dtype=dtype)  # (n, out)
        onehot[np.arange(n), y] = 1
        return onehot
    if y.ndim != 2 or y.shape != (n, n_outputs):
        raise ValueError(
            f"{name} has shape {y.shape}; expected one-hot rows of shape ({n}, {n_outputs}) "
            f"or integer labels of shape ({n},)"
        )
    y = cast_finite(y, dtype, name)
    if probabilities and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"cross-entropy targets must lie in [0, 1]; {name} ranges over [{y.min()}, {y.max()}]")
    return y

"""What every benchmark script sets up first: its threads, the checkout on ``sys.path``, MNIST's root.

Thread counts must be in the environment before NumPy (and JAX, torch) are imported, so the scripts
call ``set_threads`` before their first heavy import.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", default=None, help="MNIST root (default: $HANDPROP_DATA, else ../shared/data)")


def set_threads(threads: int = 1) -> None:
    """BLAS and OpenMP threads (one by default: on a busy machine more threads spin-wait and swing timings),
    and this checkout's handprop importable without an install."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    sys.path.insert(0, str(REPO))


def data_root(given: str | None) -> str:
    """``--data-root`` if given, else ``$HANDPROP_DATA``, else the ``shared/data`` folder beside the checkout."""
    return given or os.environ.get("HANDPROP_DATA") or str(REPO.parent / "shared" / "data")

"""MNIST and Fashion-MNIST as NumPy arrays, loaded once through torchvision.

Images come back flattened to ``(n, 784)`` with pixels scaled to [0, 1]; labels as ``(n,)`` int64.
The root folder is ``--data-root``, else ``$HANDPROP_DATA``, else ``data/`` in the working directory.
When the files are missing torchvision downloads them; when that fails (no network) the error says
which files are missing and where to put them.

torchvision is imported lazily, only here: the engine never needs it.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

logger = logging.getLogger(__name__)

# name on the command line -> torchvision class and folder name
DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
SPLITS = ("train", "test")
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SIDE = 28


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are absent and could not be downloaded."""


def resolve_root(data_root: Union[str, os.PathLike, None] = None) -> Path:
    """``data_root`` if given, else ``$HANDPROP_DATA``, else ``./data``."""
    if data_root is not None:
        return Path(data_root)
    env = os.environ.get("HANDPROP_DATA")
    return Path(env) if env else Path("data")


def missing_files(name: str, root: Path) -> list[Path]:
    """The raw IDX files of ``name`` that are not under ``root/<Folder>/raw``."""
    raw = root / DATASETS[name] / "raw"
    return [raw / f for split in SPLITS for f in RAW_FILES[split] if not (raw / f).exists()]


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    data_root: Union[str, os.PathLike, None] = None,
    download: bool = True,
    dtype: str = "float64",
) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 784) in [0, 1], labels (n,) int64) of one split. Cached per process."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    root = resolve_root(data_root).resolve()
    images, labels = _load(name, split, str(root), download)
    return images.astype(dtype), labels.copy()


@functools.lru_cache(maxsize=8)
def _load(name: str, split: str, root: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    root_path = Path(root)
    if missing_files(name, root_path):
        if download:
            _download(name, root_path)
        missing = missing_files(name, root_path)
        if missing:
            folder = root_path / DATASETS[name] / "raw"
            raise DatasetNotFoundError(
                f"{DATASETS[name]} files missing from {folder}: {', '.join(p.name for p in missing)}; "
                f"download them (uncompressed IDX) into that folder, or point --data-root / HANDPROP_DATA "
                f"at the folder that contains {DATASETS[name]}/raw"
            )
    import torchvision  # lazy: heavy, and only the data layer needs it

    cls = getattr(torchvision.datasets, DATASETS[name])
    ds = cls(root=root, train=split == "train", download=False)
    images = ds.data.numpy().reshape(len(ds.data), -1).astype(np.float64) / 255.0  # (n, 784)
    labels = ds.targets.numpy().astype(np.int64)  # (n,)
    logger.info("loaded %s %s: %d images from %s", name, split, len(labels), root)
    return images, labels


def _download(name: str, root: Path) -> None:
    """Let torchvision fetch the files; any failure is left for the caller's clear message."""
    import torchvision

    cls = getattr(torchvision.datasets, DATASETS[name])
    chatter = io.StringIO()  # torchvision prints its progress and failures; keep them out of our output
    try:
        with contextlib.redirect_stdout(chatter):
            for train in (True, False):
                cls(root=str(root), train=train, download=True)
    except Exception as error:  # network errors come in many types; the caller reports missing files
        logger.info("downloading %s failed: %s", name, error)
    finally:
        if chatter.getvalue():
            logger.info("torchvision: %s", chatter.getvalue().strip())

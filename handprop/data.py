"""MNIST and Fashion-MNIST as NumPy arrays, read from their IDX files, validated file by file.

Images come back flattened to ``(n, 784)`` with pixels scaled to [0, 1]; labels as ``(n,)`` int64 in
0–9. The root folder is ``--data-root`` (``data_root=``), else ``$HANDPROP_DATA``, else one default
per user (``default_root()``: ``~/.local/share/handprop``), the same rule for every command, the API,
the notebook and the examples. When the files are missing torchvision downloads them; when that fails (no network) the
error lists where it looked and how to point at a copy, and the folders made for the download are
removed again.

Every file is checked before it is read (``check_idx_file``: a regular file, the IDX magic number,
unsigned-byte data, the expected number of dimensions, 28×28 images, and a size that matches its
header), then NumPy reads its bytes (labels checked in 0–9, as many labels as images). Any failure
is a ``DataFileError`` naming the damaged file and what was expected. Nothing is kept between calls:
reading the training split again takes 0.1 s, and keeping its 47 MB of bytes would cost every
training run that much memory.

torchvision is imported lazily, and only to download: reading needs NumPy alone.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
from pathlib import Path
from typing import Union

import numpy as np

from .checks import as_dtype

logger = logging.getLogger(__name__)

# name on the command line -> torchvision class and folder name
DATASETS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
SPLITS = ("train", "test")
RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_SIDE = 28
N_CLASSES = 10
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(N_CLASSES)),
    "fashion-mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}
IDX_UBYTE = 0x08  # the IDX type byte of unsigned 8-bit data, the only type MNIST files use
REDOWNLOAD = "delete it to download it again, or replace it with the original uncompressed IDX file"


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are absent and could not be downloaded."""


class DataFileError(ValueError):
    """A dataset file exists but is not what it should be; the message names the file."""


def default_root() -> Path:
    """The one default: ``$XDG_DATA_HOME/handprop``, else ``~/.local/share/handprop``.

    Per user, not per folder, so that the command line, the API, the notebook (which runs in
    ``examples/``) and the examples all find the one copy a first run downloaded.
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "handprop"


def resolve_root(data_root: Union[str, os.PathLike, None] = None) -> Path:
    """``data_root`` (``--data-root``) if given, else ``$HANDPROP_DATA``, else ``default_root()``."""
    if data_root is not None:
        return Path(data_root)
    env = os.environ.get("HANDPROP_DATA")
    return Path(env) if env else default_root()


def root_origin(data_root: Union[str, os.PathLike, None] = None) -> str:
    """Where ``resolve_root(data_root)`` came from, in words, for messages."""
    env = os.environ.get("HANDPROP_DATA")
    if data_root is not None:
        return "given as --data-root / data_root=" + (f"; $HANDPROP_DATA={env} was not looked at" if env else "")
    if env:
        return "from $HANDPROP_DATA"
    return "the default, as neither --data-root / data_root= nor $HANDPROP_DATA was given"


def missing_message(name: str, root: Path, missing: list[Path], origin: str) -> str:
    """One message: what is missing, every place looked at, and how to point at a copy."""
    folder = DATASETS[name]
    return (
        f"{folder} files missing from {raw_folder(name, root)}: {', '.join(p.name for p in missing)}. "
        f"Looked in {root} only ({origin}), and downloading failed (no network?). Point at a copy with "
        f"--data-root DIR (data_root=DIR in Python) or HANDPROP_DATA=DIR, where DIR holds {folder}/raw/ with the "
        f"four uncompressed IDX files, or put them into {raw_folder(name, root)}"
    )


def raw_folder(name: str, root: Path) -> Path:
    return root / DATASETS[name] / "raw"


def missing_files(name: str, root: Path) -> list[Path]:
    """The raw IDX files of ``name`` that are not under ``root/<Folder>/raw``.

    A path that exists but is not a regular file (a folder, say) is an error, not a missing file: a
    download would not replace it.
    """
    missing = []
    for split in SPLITS:
        for f in RAW_FILES[split]:
            path = raw_folder(name, root) / f
            if path.exists() and not path.is_file():
                raise DataFileError(f"{path} is not a regular file; expected the uncompressed IDX file {f}")
            if not path.exists():
                missing.append(path)
    return missing


def check_idx_file(path: Path, ndim: int) -> tuple[int, ...]:
    """The dimensions in the header of the IDX file at ``path``, after checking it whole.

    An IDX file is a 4-byte magic number (0, 0, type, number of dimensions), one big-endian uint32 per
    dimension, then the data. MNIST images are (n, 28, 28) unsigned bytes and labels (n,).
    """
    kind = "images" if ndim == 3 else "labels"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except OSError as error:
        raise DataFileError(f"{path} cannot be read ({error.strerror or error}); {REDOWNLOAD}") from None
    if size == 0:
        raise DataFileError(f"{path} is empty; expected an IDX file of {kind} ({REDOWNLOAD})")
    if len(head) < 4 or head[:2] != b"\0\0":
        raise DataFileError(
            f"{path} is not an IDX file (its first bytes are {head[:4].hex(' ')}, expected 00 00 08 0{ndim}); "
            f"a compressed .gz download must be unpacked first, or {REDOWNLOAD}"
        )
    if head[2] != IDX_UBYTE:
        raise DataFileError(
            f"{path} has IDX type byte 0x{head[2]:02x}; expected 0x08 (unsigned bytes) as in every MNIST file ({REDOWNLOAD})"
        )
    if head[3] != ndim:
        raise DataFileError(
            f"{path} has {head[3]} dimensions; expected {ndim} for {kind} (is it the {kind} file? {REDOWNLOAD})"
        )
    if len(head) < 4 + 4 * ndim:
        raise DataFileError(f"{path} is truncated inside its header ({size} bytes); {REDOWNLOAD}")
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and dims[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataFileError(f"{path} holds images of {dims[1]}×{dims[2]} pixels; expected 28×28 ({REDOWNLOAD})")
    if dims[0] == 0:
        raise DataFileError(f"{path} holds no {kind}; expected at least one ({REDOWNLOAD})")
    expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise DataFileError(
            f"{path} is {state}: {size:,} bytes, but its header ({dims[0]:,} {kind}) needs {expected:,}; {REDOWNLOAD}"
        )
    return dims


def load_dataset(
    name: str = "mnist",
    split: str = "train",
    data_root: Union[str, os.PathLike, None] = None,
    download: bool = True,
    dtype: str = "float64",
) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 784) in [0, 1], labels (n,) int64 in 0–9) of one split, read from its IDX files.

    Raises ``DatasetNotFoundError`` when files are missing (and could not be downloaded) and
    ``DataFileError`` naming the file when one is damaged.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    resolved = as_dtype(dtype)  # pixels in [0, 1]: an integer dtype would turn every one of them into 0
    root = resolve_root(data_root).resolve()
    pixels, labels = _load(name, split, str(root), download, root_origin(data_root))
    return pixel_table(resolved.name)[pixels], labels.copy()  # (n, 784) in [0, 1], without a float64 copy


def _load(name: str, split: str, root: str, download: bool, origin: str) -> tuple[np.ndarray, np.ndarray]:
    root_path = Path(root)
    if missing_files(name, root_path):
        if download:
            _download(name, root_path)
        missing = missing_files(name, root_path)
        if missing:
            raise DatasetNotFoundError(missing_message(name, root_path, missing, origin))
    image_path, label_path = (raw_folder(name, root_path) / f for f in RAW_FILES[split])
    n_images = check_idx_file(image_path, 3)[0]
    n_labels = check_idx_file(label_path, 1)[0]
    if n_images != n_labels:
        raise DataFileError(
            f"{label_path} holds {n_labels:,} labels but {image_path.name} holds {n_images:,} images; expected one "
            f"label per image (one of the two files is damaged or from another split: {REDOWNLOAD})"
        )
    images = _read_idx(image_path, n_images * IMAGE_SIDE * IMAGE_SIDE, 16).reshape(n_images, IMAGE_SIDE * IMAGE_SIDE)  # (n, 784)
    labels = _read_idx(label_path, n_labels, 8)  # (n,)
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise DataFileError(
            f"{label_path} holds label {int(labels[bad[0]])} at position {int(bad[0])} ({bad.size:,} label{'s' if bad.size > 1 else ''} out of "
            f"range); expected class numbers 0–9 ({REDOWNLOAD})"
        )
    logger.info("loaded %s %s: %d images from %s", name, split, n_images, root)
    return images, labels.astype(np.int64)


def _read_idx(path: Path, count: int, offset: int) -> np.ndarray:
    """The ``count`` unsigned bytes after the header of an IDX file that ``check_idx_file`` accepted.

    NumPy reads the file directly (what torchvision does too, without importing torch: 0.1 s and
    47 MB for the training images instead of 4 s and 1.5 GB).
    """
    try:
        values = np.fromfile(path, dtype=np.uint8, count=count, offset=offset)
    except OSError as error:
        raise DataFileError(f"{path} cannot be read ({error.strerror or error}); {REDOWNLOAD}") from None
    if values.size != count:  # changed on disk since it was checked
        raise DataFileError(f"{path} is truncated: {values.size:,} of {count:,} values after its header; {REDOWNLOAD}")
    return values


@functools.lru_cache(maxsize=4)
def pixel_table(dtype: Union[str, np.dtype]) -> np.ndarray:
    """Pixel byte v -> v / 255 in ``dtype``: exactly the float64 quotient, rounded once to ``dtype``."""
    return (np.arange(256, dtype=np.float64) / 255.0).astype(dtype)


def _download(name: str, root: Path) -> None:
    """Let torchvision fetch the files; any failure is left for the caller's clear message.

    When the download fails, the folders it created (and left empty) are removed again.
    """
    import torchvision

    raw = raw_folder(name, root)
    made = [p for p in (raw, *raw.parents) if not p.exists()]  # innermost first
    cls = getattr(torchvision.datasets, DATASETS[name])
    chatter = io.StringIO()  # torchvision prints its progress and failures; keep them out of our output
    try:
        with contextlib.redirect_stdout(chatter):
            for train in (True, False):
                cls(root=str(root), train=train, download=True)
    except Exception as error:  # network errors come in many types; the caller reports missing files
        logger.info("downloading %s failed: %s", name, error)
        for folder in made:
            with contextlib.suppress(OSError):  # not empty (a partial download): leave it
                folder.rmdir()
    finally:
        if chatter.getvalue():
            logger.info("torchvision: %s", chatter.getvalue().strip())

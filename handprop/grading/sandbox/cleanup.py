"""Remove a folder the sandbox user could write to, without recursion and without following links.

``shutil.rmtree`` recurses (a 10,000-deep tree raises RecursionError) and, by path, could be made
to follow a link swapped in by a live process. Here every process of the submission is dead first
(the caller's job), the walk holds one directory descriptor at a time, descends with
``O_NOFOLLOW | O_DIRECTORY`` and removes entries relative to that descriptor, so no depth or link
can make it recurse or leave the tree.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def remove_tree(path: os.PathLike | str, max_steps: int = 10_000_000) -> bool:
    """Remove ``path`` and everything under it; True when it is gone. Never raises for its content."""
    root = Path(path)
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return True
    except OSError as error:
        logger.warning("could not open %s for removal: %s", root, error)
        return False
    names: list[str] = []  # the path from root to the current directory, as names (no descriptors)
    try:
        for _ in range(max_steps):
            child = _next_directory(fd)
            if child is not None:
                try:
                    sub = os.open(child, _DIR_FLAGS, dir_fd=fd)
                except PermissionError:  # a folder its owner made unreadable: make it readable
                    os.chmod(child, 0o700, dir_fd=fd)
                    continue
                os.close(fd)
                fd, names = sub, names + [child]
                continue
            if not names:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
        else:
            logger.warning("gave up removing %s after %d steps", root, max_steps)
            return False
    except OSError as error:
        logger.warning("could not remove %s: %s", root, error)
        return False
    finally:
        os.close(fd)
    try:
        os.rmdir(root)
    except OSError as error:
        logger.warning("could not remove %s: %s", root, error)
        return False
    return True


def _next_directory(fd: int):
    """Unlink every non-directory in ``fd``; return the name of a subdirectory, or None."""
    try:
        entries = list(os.scandir(fd))
    except PermissionError:
        os.fchmod(fd, 0o700)
        entries = list(os.scandir(fd))
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            return entry.name
        os.unlink(entry.name, dir_fd=fd)
    return None

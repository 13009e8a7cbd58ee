"""Which files a sandbox user can read, decided by asking the kernel as that user, file by file.

Mode bits of a top-level folder do not say it: a folder of mode 0711 is not listable, yet a file
inside it of mode 0644 opens for anyone who knows (or guesses) its name; an ACL or a group can grant
what the bits seem to deny. So the grader lists every file itself (as root, without following
links) and a process running as the sandbox user (real and effective ids, no groups, no
capabilities) asks ``access(R_OK)`` of each one, through every folder on its path (find's
``-readable``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

logger = logging.getLogger(__name__)

MAX_FILES = 200_000  # files listed per check: more than any course folder or package holds
CHUNK = 2000  # paths per find invocation


class ExposureCheckFailed(RuntimeError):
    """The check itself could not run (no ``find``, not root, too many files to try)."""


def files_under(paths: Iterable[os.PathLike | str], limit: int = MAX_FILES) -> list[str]:
    """Every regular file at or under ``paths`` (links are not followed); ExposureCheckFailed past ``limit``."""
    found: list[str] = []
    for top in paths:
        top = str(top)
        if os.path.islink(top):
            continue  # the grader never reads through a link
        if os.path.isfile(top):
            found.append(top)
            continue
        for folder, _dirs, files in os.walk(top, followlinks=False):
            found.extend(p for p in (os.path.join(folder, name) for name in files) if not os.path.islink(p))
            if len(found) > limit:  # fail closed: a file left untried could be a readable one
                raise ExposureCheckFailed(
                    f"more than {limit} files under {top}: too many to try one by one as the sandbox user; "
                    f"move what is not a submission out of it"
                )
    return found


def readable_as(uid: int, gid: int, paths: Iterable[os.PathLike | str]) -> list[str]:
    """The files at or under ``paths`` that ``uid``/``gid`` can read. Needs root (to become that
    user); raises ExposureCheckFailed when it cannot decide."""
    files = files_under(paths)
    if not files:
        return []
    find = shutil.which("find")
    if find is None or os.geteuid() != 0:
        raise ExposureCheckFailed("checking which files the sandbox user can read needs root and find(1)")
    readable: list[str] = []
    for start in range(0, len(files), CHUNK):
        # "./" keeps a name that starts with "-" or "(" from being read as an option or expression.
        chunk = [f if f.startswith("/") else "./" + f for f in files[start : start + CHUNK]]
        done = subprocess.run(
            [find, "-P", *chunk, "-maxdepth", "0", "-readable", "-print0"],
            user=uid, group=gid, extra_groups=[], stdin=subprocess.DEVNULL, capture_output=True, timeout=120, cwd="/",
        )  # fmt: skip
        readable.extend(p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p)
    return readable


def describe(paths: list[str], limit: int = 3) -> str:
    """A short list of paths for an error message."""
    shown = ", ".join(str(Path(p)) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")

"""The one escaping function for text a student controls (file and zip member names, exception
texts, prints) before it reaches a terminal, a log record, a CSV or a feedback file.

Escaped: control characters (ESC, so no terminal sequence such as OSC 52 or a screen clear ever
reaches the instructor's terminal raw), other non-printable characters (bidirectional overrides,
zero-width characters), lone surrogates, and the bytes of a file name that is not UTF-8 (Python
reads those as U+DC80..U+DCFF, "surrogateescape"), which are shown as ``\\xNN``.
"""

from __future__ import annotations

import os
from typing import Union

MAX_MESSAGE = 4000  # characters kept of a traceback or message coming back from the child


def _escape(c: str, newlines: bool) -> str:
    if c.isprintable() or (newlines and c in "\n\t"):
        return c
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # one byte of a name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def clean_text(text: str, limit: int = MAX_MESSAGE, newlines: bool = True) -> str:
    """``text`` made safe to print and store as UTF-8: every character that is not printable
    escaped (newlines and tabs kept when ``newlines``), trimmed to ``limit`` characters."""
    text = "".join(_escape(c, newlines) for c in str(text)[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown_name(name: Union[str, bytes, "os.PathLike[str]"], limit: int = 300) -> str:
    """A file or member name from outside as one escaped line: non-UTF-8 bytes as ``\\xNN``."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    return clean_text(name, limit, newlines=False)

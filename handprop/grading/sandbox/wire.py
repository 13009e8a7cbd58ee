"""What travels between the grader and the sandboxed child: length-prefixed frames over pipes, and
the arrays inside them in a fixed binary layout that the grader checks before allocating anything.

A frame is one ASCII kind byte, an 8-byte big-endian length, then that many bytes. The grader reads
a frame only from a pipe it created, refuses a length above its cap before reading a byte of the
payload, and the reading counts against the function's timeout.

An array message (the ``F`` and ``D`` frames) is, all little-endian::

    b"HPW1" | u32 meta length | u32 array count
    | per array: u8 dtype code, u8 ndim, ndim x u64 dimensions
    | meta (UTF-8 JSON) | each array's raw C-order bytes, in order

Every count, dimension and length is checked against the caps, and the sum of the arrays' sizes
against the bytes that actually came, before one array is built; only the plain number dtypes of
``DTYPES`` exist (no pickles, objects, strings, zip or .npy headers to parse). The child builds the
same layout with its own copy of ``dump`` (it imports nothing of handprop). Nothing here ever
follows a path.
"""

from __future__ import annotations

import json
import struct
import time
from typing import Any, Optional

import numpy as np

Array = np.ndarray

HEADER = 9  # kind (1) + length (8)
MAGIC = b"HPW1"
# Code → dtype; the child's copy in _child.py must list the same codes in the same order.
DTYPES = ("<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1")
MAX_NDIM = 32
_FIXED = struct.Struct("<4sII")


class WireError(ValueError):
    """Bytes from the child that do not follow the protocol or exceed a cap."""


def frame(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(8, "big") + payload


def parse_header(header: bytes, kinds: bytes, max_bytes: int) -> tuple[bytes, int]:
    """(kind, length) of a frame header, refusing unknown kinds and lengths over ``max_bytes``."""
    kind, length = header[:1], int.from_bytes(header[1:HEADER], "big")
    if kind not in (kinds[i : i + 1] for i in range(len(kinds))):
        raise WireError(f"an unexpected message kind {kind!r} came back")
    if length > max_bytes:
        raise WireError(f"a message of {length} bytes came back; the limit is {max_bytes}")
    return kind, length


def dump(meta: Any, arrays: list[Array]) -> bytes:
    """``meta`` (JSON) and ``arrays`` (referred to in meta by their index) as one array message."""
    text = json.dumps(meta).encode("utf-8", "surrogatepass")
    head, body = [_FIXED.pack(MAGIC, len(text), len(arrays))], []
    for array in arrays:
        array = np.asarray(array, order="C")
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder not in "|" else array.dtype
        code = DTYPES.index(dtype.str)  # ValueError: not a plain number dtype
        head.append(struct.pack(f"<BB{array.ndim}Q", code, array.ndim, *array.shape))
        body.append(array.astype(dtype, copy=False).tobytes())
    return b"".join(head) + text + b"".join(body)


def load(
    data: bytes, max_arrays: int, max_bytes: int, max_meta: int = 4 * 2**20, deadline: Optional[float] = None, max_elements: Optional[int] = None
) -> tuple[Any, list[Array]]:
    """(meta, arrays) from an array message the child wrote, trusting nothing about it.

    Refuses a wrong magic, more than ``max_arrays`` arrays, a description over ``max_meta`` bytes,
    an unknown dtype code, more than 32 dimensions, any array or total over ``max_bytes``, and a
    total that is not exactly the bytes that follow, more than ``max_elements`` numbers in all (the
    grader widens each to 8 bytes: 64 MiB of bytes must not become 512 MiB of float64), all before
    any array is built; and stops with
    WireError once ``deadline`` (time.monotonic) has passed.
    """
    view = memoryview(data)
    if len(view) > max_bytes:
        raise WireError(f"{len(view)} bytes came back; the limit is {max_bytes}")
    if len(view) < _FIXED.size:
        raise WireError("the results are too short to hold their description")
    magic, meta_len, count = _FIXED.unpack_from(view, 0)
    if magic != MAGIC:
        raise WireError(f"the results do not start with {MAGIC!r} (got {bytes(magic)!r})")
    if count > max_arrays:
        raise WireError(f"{count} arrays came back; the limit is {max_arrays}")
    if meta_len > max_meta:
        raise WireError(f"a description of {meta_len} bytes came back; the limit is {max_meta}")
    at, shapes, total, elements = _FIXED.size, [], 0, 0
    for i in range(count):
        if i % 256 == 0:
            _check_time(deadline)
        if at + 2 > len(view):
            raise WireError("the array descriptions are cut short")
        code, ndim = view[at], view[at + 1]
        if code >= len(DTYPES):
            raise WireError(f"an array of unknown dtype code {code} came back, not plain numbers")
        if ndim > MAX_NDIM or at + 2 + 8 * ndim > len(view):
            raise WireError("an array with an invalid shape came back")
        shape = struct.unpack_from(f"<{ndim}Q", view, at + 2)
        at += 2 + 8 * ndim
        nbytes = np.dtype(DTYPES[code]).itemsize
        for d in shape:  # Python integers: no overflow, and a zero anywhere is a zero-size array
            nbytes *= d
        if any(d > max_bytes for d in shape) or nbytes > max_bytes:
            raise WireError(f"an array of shape {shape[:4]}{'...' if ndim > 4 else ''} came back; the limit is {max_bytes} bytes")
        total += nbytes
        elements += nbytes // np.dtype(DTYPES[code]).itemsize
        if max_elements is not None and elements > max_elements:
            raise WireError(f"more than {max_elements} numbers came back")
        shapes.append((code, shape, nbytes))
    if at + meta_len + total != len(view):
        raise WireError(f"the description promises {at + meta_len + total} bytes but {len(view)} came")
    try:
        meta = json.loads(bytes(view[at : at + meta_len]).decode("utf-8", "surrogatepass"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise WireError(f"the description of the results is not valid JSON ({type(error).__name__})") from None
    at += meta_len
    arrays = []
    for i, (code, shape, nbytes) in enumerate(shapes):
        if i % 64 == 0:
            _check_time(deadline)
        dtype = np.dtype(DTYPES[code])
        flat = np.frombuffer(view, dtype=dtype, count=nbytes // dtype.itemsize, offset=at)
        arrays.append(flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True))
        at += nbytes
    return meta, arrays


def _check_time(deadline: Optional[float]) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise WireError("reading the results back took longer than the time limit")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")

"""What travels between the grader and the sandboxed child: length-prefixed frames over pipes, and
the arrays inside them as uncompressed .npz bytes that the grader validates before loading.

A frame is one ASCII kind byte, an 8-byte big-endian length, then that many bytes. The grader reads
a frame only from a pipe it created, refuses a length above its cap before reading a byte of the
payload, and parses the .npz by hand: the member count, names, sizes and every array header are
checked against the caps before any array is materialised, and only plain numbers are accepted
(no pickles, objects, structured or string dtypes). Nothing here ever follows a path.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from typing import Any

import numpy as np

Array = np.ndarray

HEADER = 9  # kind (1) + length (8)
META = "meta"  # the .npz member holding the JSON description, as uint8 bytes
_MEMBER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}\.npy")
_KINDS = "iufb"  # integers, unsigned, floats, booleans


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


def dump_npz(meta: Any, arrays: dict[str, Array]) -> bytes:
    """An uncompressed .npz holding ``arrays`` and ``meta`` as JSON (the grader's side of a call)."""
    buffer = io.BytesIO()
    payload = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buffer, **{META: payload}, **arrays)
    return buffer.getvalue()


def load_npz(data: bytes, max_arrays: int, max_bytes: int, max_meta: int = 4 * 2**20) -> tuple[Any, dict[str, Array]]:
    """(meta, arrays) from .npz bytes the child wrote, trusting nothing about them.

    Refuses more than ``max_arrays`` members, compressed members, odd names, duplicate names, a total
    over ``max_bytes``, any array header whose size disagrees with its member, and any dtype that is
    not plain numbers. Raises WireError.
    """
    if len(data) > max_bytes:
        raise WireError(f"{len(data)} bytes came back; the limit is {max_bytes}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise WireError(f"not a valid .npz archive ({type(error).__name__})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_arrays + 1:
            raise WireError(f"{len(infos) - 1} arrays came back; the limit is {max_arrays}")
        names, total = set(), 0
        for info in infos:
            if not _MEMBER.fullmatch(info.filename) or info.filename in names:
                raise WireError(f"an unexpected archive member {info.filename[:40]!r}")
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise WireError("compressed archive members are not accepted")
            names.add(info.filename)
            total += info.file_size
        if total > max_bytes:
            raise WireError(f"the arrays total {total} bytes; the limit is {max_bytes}")
        arrays: dict[str, Array] = {}
        for info in infos:
            try:
                with archive.open(info) as f:
                    arrays[info.filename[:-4]] = _read_array(f, info.file_size)
            except WireError:
                raise
            except Exception as error:  # a malformed member can raise many things; all mean "unreadable"
                raise WireError(f"array {info.filename[:-4]!r} is malformed ({type(error).__name__})") from None
    raw = arrays.pop(META, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > max_meta:
        raise WireError("the description of the results is missing or too large")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8", "surrogatepass"), parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise WireError(f"the description of the results is not valid JSON ({type(error).__name__})") from None
    return meta, arrays


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _read_array(f: Any, size: int) -> Array:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=2048)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=2048)
    else:
        raise WireError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None or dtype.kind not in _KINDS:
        raise WireError(f"an array of dtype {dtype} came back, not plain numbers")
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(type(d) is int and d >= 0 for d in shape):
        raise WireError("an array with an invalid shape came back")
    nbytes = math.prod(shape) * dtype.itemsize
    data = f.read(size)  # the member is bounded; the header was consumed above
    if nbytes != len(data):
        raise WireError(f"an array's header claims {nbytes} bytes but {len(data)} follow")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)

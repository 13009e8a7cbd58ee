"""Turn what a student handed in into the Python text the sandbox imports.

A submission is a ``.py`` file, a Jupyter notebook (``.ipynb``: its code cells, in order, with
IPython magics and shell lines left out and noted), a folder, or a ``.zip`` (never extracted to
disk: members are read in memory, size-capped). In a folder or zip the graded file is the one named
``file`` (default: the assignment template's name); failing that, the only Python file or notebook
there is; otherwise the submission cannot be graded and the message lists the files found.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Union

from ..escaping import clean_text, shown_name

logger = logging.getLogger(__name__)

MAX_SUBMISSION_BYTES = 1_000_000  # one graded file (a notebook's outputs count too)
MAX_ZIP_MEMBERS = 1000  # files in a zip or a folder submission
MAX_FOLDER_DEPTH = 8  # folders below a folder submission that are looked into
MAX_HELPERS = 20  # Python files beside the graded one that it may import
MAX_ZIP_BYTES = 50_000_000  # all members together, uncompressed
MAX_ZIP_ENTRIES = 4 * MAX_ZIP_MEMBERS  # entries of a zip's directory, folders and __MACOSX copies included
MAX_ENTRY_BYTES = 46 + 1024  # one directory entry: its fixed part, name, extra field and comment
SOURCE_SUFFIXES = (".py", ".ipynb")
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")


class SubmissionError(ValueError):
    """The submission holds nothing gradable; the message is meant for the student. It names files
    and members the student chose, so it is escaped here once, whoever shows it."""

    def __init__(self, message: str) -> None:
        super().__init__(clean_text(message, newlines=False))


@dataclass
class Submission:
    """The Python text to grade, which file it came from, and notes for the feedback."""

    source: bytes
    name: str  # the graded file, as shown in the report
    notes: list[str] = field(default_factory=list)
    helpers: dict[str, bytes] = field(default_factory=dict)  # NAME.py beside the graded file, importable by it

    def sources(self) -> Union[bytes, dict[str, bytes]]:
        """What the sandbox runs: the graded text, with its helper modules when there are any."""
        return {"submission.py": self.source, **self.helpers} if self.helpers else self.source


def load_submission(
    path: Union[str, os.PathLike], file: Optional[str] = None, default_name: str = "assignment.py", single_link: bool = False
) -> Submission:
    """Read a .py, .ipynb, folder or .zip submission at ``path``.

    ``file`` (or else ``default_name``) picks the graded file in a folder or zip. Links inside a
    folder are never followed. With ``single_link`` (students may have placed the files: a batch,
    Gradescope) ``path`` itself must not be a symbolic link and a file read must have one hard
    link: as root, the grader would otherwise read a classmate's or a system file into the
    feedback. Raises FileNotFoundError when ``path`` does not exist and SubmissionError when it
    holds nothing gradable.
    """
    target = Path(path)
    if single_link and target.is_symlink():
        raise SubmissionError(f"submission {target} is a symbolic link; links are not graded")
    if not target.exists():
        raise FileNotFoundError(f"submission {target} does not exist")
    if target.is_dir():
        files, too_deep = _folder_files(target)
        chosen = _choose(list(files), file, default_name, str(target), too_deep)
        submission = _from_bytes(read_file(files[chosen], single_link), str(target / chosen), _several(files, chosen))
        submission.helpers = _helpers({n: files[n].stat().st_size for n in files}, chosen, lambda n: read_file(files[n], single_link))
        return submission
    if target.suffix.lower() == ".zip":
        return _from_zip(target, file, default_name, read_file(target, single_link, MAX_ZIP_BYTES, check_zip_end))
    return _from_bytes(read_file(target, single_link), str(target), [])


def _folder_files(target: Path) -> tuple[dict[str, Path], bool]:
    """The regular files of a folder submission by relative name, bounded like a zip's members: at
    most MAX_ZIP_MEMBERS files, MAX_FOLDER_DEPTH folders deep, links never followed, no recursion
    (a student's folder tree is as hostile as the rest of the submission); and whether folders
    deeper than that were left unread."""
    files: dict[str, Path] = {}
    too_deep = False
    pending = [(target, 0)]
    try:
        while pending:
            folder, depth = pending.pop()
            with os.scandir(folder) as entries:
                for entry in entries:
                    path = Path(entry.path)
                    if not _wanted(path.relative_to(target).parts) or entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if depth < MAX_FOLDER_DEPTH:
                            pending.append((path, depth + 1))
                        else:
                            too_deep = True
                    elif entry.is_file(follow_symlinks=False):
                        files[str(path.relative_to(target))] = path
                        if len(files) > MAX_ZIP_MEMBERS:
                            raise SubmissionError(f"{target} holds more than {MAX_ZIP_MEMBERS} files; submit the graded file, or a folder of at most {MAX_ZIP_MEMBERS}")
    except OSError as error:
        raise SubmissionError(f"{target} could not be listed ({error.strerror or error}); submit the graded file itself") from None
    return dict(sorted(files.items())), too_deep


def _wanted(parts: tuple[str, ...]) -> bool:
    return not any(p in IGNORED_PARTS or p.startswith(".") for p in parts)


def _choose(names: list[str], file: Optional[str], default_name: str, where: str, too_deep: bool = False) -> str:
    wanted = file or default_name
    stem = Path(wanted).stem
    for candidate in (wanted, stem + ".ipynb" if not file else None):
        matches = [n for n in names if candidate and PurePosixPath(n).name == candidate]
        if matches:
            return min(matches, key=lambda n: (n.count("/"), n))  # the top-most one
    sources = [n for n in names if n.lower().endswith(SOURCE_SUFFIXES)]
    if len(sources) == 1 and not file:
        return sources[0]
    found = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "") if names else "no files"
    deep = f" Folders more than {MAX_FOLDER_DEPTH} deep are not looked into: move the graded file up." if too_deep else ""
    raise SubmissionError(f"{where} has no file named {wanted}; it holds {found}. Name the graded file {wanted}"
                          + (" (the course's setting)." if file else ".") + deep)


def _several(files: dict, chosen: str) -> list[str]:
    others = [n for n in files if n != chosen and n.lower().endswith(SOURCE_SUFFIXES)]
    return [f"Graded {chosen}; also found {', '.join(others)} (not graded)."] if others else []


def read_file(path: Path, single_link: bool = False, limit: int = MAX_SUBMISSION_BYTES, check_end=None) -> bytes:
    """A regular file's bytes, read through one descriptor (never through a link with
    ``single_link``, and never a file with several hard links then), at most ``limit`` bytes.
    ``check_end(tail, name)``, given, sees the file's last 64 KiB first and may refuse it by raising
    before the rest is read."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (os.O_NOFOLLOW if single_link else 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if single_link and path.is_symlink():
            raise SubmissionError(f"{path.name} is a symbolic link; links are not graded") from None
        raise FileNotFoundError(f"submission {path} does not exist or is not a file ({error.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{path.name} is not a regular file")
        if single_link and info.st_nlink != 1:
            raise SubmissionError(f"{path.name} has {info.st_nlink} hard links; copy it instead")
        if info.st_size > limit:
            raise SubmissionError(f"{shown_name(path.name)} is {info.st_size} bytes; the limit is {limit}")
        if check_end is not None:
            f.seek(max(0, info.st_size - _TAIL))
            check_end(f.read(_TAIL), shown_name(path.name))
            f.seek(0)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SubmissionError(f"{path.name} is larger than {limit} bytes")
    return data


_TAIL = 22 + 65535 + 20 + 56  # the end record, its longest comment, the zip64 locator and record
_END = struct.Struct("<4s4H2LH")  # end of central directory: signature … entries, size, offset, comment length
_END64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end record: … entries, size, offset
_ENTRY = struct.Struct("<4s4B4HL2L5H2L")  # one central directory entry (46 bytes before its name)


def _zip_end(data: bytes, name: str) -> tuple[int, int, int]:
    """(entries, directory size, where the directory ends) from the end of ``data`` (the file's
    tail or all of it), refusing more than MAX_ZIP_ENTRIES entries or a directory larger than its
    entries can need: the limits hold before anything reads the directory itself."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if at < 0 or at + _END.size > len(data):
        raise SubmissionError(f"{name} is not a readable zip file (no end of central directory record)")
    _, _, _, _, entries, size, _, _ = _END.unpack_from(data, at)
    end = at
    if entries == 0xFFFF or size == 0xFFFFFFFF:  # zip64: the real numbers are in the zip64 record
        at64 = at - 20 - _END64.size
        if at64 < 0 or data[at64 : at64 + 4] != b"PK\x06\x06":
            raise SubmissionError(f"{name} is not a readable zip file (a damaged zip64 record)")
        _, _, _, _, _, _, _, entries, size, _ = _END64.unpack_from(data, at64)
        end = at64
    if entries > MAX_ZIP_ENTRIES or size > max(entries, 1) * MAX_ENTRY_BYTES:
        raise SubmissionError(
            f"{name} lists {entries} entries in a directory of {size} bytes; at most {MAX_ZIP_MEMBERS} files are accepted"
        )
    return entries, size, end


def check_zip_end(tail: bytes, name: str) -> None:
    """Refuse a zip from its end record alone (read before the rest of the file)."""
    _zip_end(tail, name)


def _check_zip_directory(data: bytes, name: str) -> None:
    """Walk the central directory that the end record bounds, before ``zipfile`` reads it: the entry
    count must match, and the members' sizes together stay within MAX_ZIP_BYTES."""
    entries, size, end = _zip_end(data, name)
    at, total, count = end - size, 0, 0
    if at < 0:
        raise SubmissionError(f"{name} is not a readable zip file (its directory lies outside it)")
    while at < end:
        if count >= entries or at + _ENTRY.size > end or data[at : at + 4] != b"PK\x01\x02":
            raise SubmissionError(f"{name} is not a readable zip file (its directory does not match its end record)")
        fields = _ENTRY.unpack_from(data, at)
        total += fields[11]  # the uncompressed size (0xFFFFFFFF for zip64: far over the limit anyway)
        if total > MAX_ZIP_BYTES:
            raise SubmissionError(f"{name} holds more than {MAX_ZIP_MEMBERS} files or {MAX_ZIP_BYTES} bytes")
        at += _ENTRY.size + fields[12] + fields[13] + fields[14]
        count += 1
    if count != entries:
        raise SubmissionError(f"{name} is not a readable zip file (its directory does not match its end record)")


def _from_zip(path: Path, file: Optional[str], default_name: str, data: bytes) -> Submission:
    _check_zip_directory(data, shown_name(path.name))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir() and _wanted(PurePosixPath(m.filename).parts)]
            if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SubmissionError(f"{path.name} holds more than {MAX_ZIP_MEMBERS} files or {MAX_ZIP_BYTES} bytes")
            by_name = {m.filename: m for m in members}
            chosen = _choose(list(by_name), file, default_name, path.name)
            member = by_name[chosen]
            if member.file_size > MAX_SUBMISSION_BYTES:
                raise SubmissionError(f"{chosen} is {member.file_size} bytes; the limit is {MAX_SUBMISSION_BYTES}")
            member_data = archive.read(member)[: MAX_SUBMISSION_BYTES + 1]
            submission = _from_bytes(member_data, f"{path.name}:{chosen}", _several(by_name, chosen))
            submission.helpers = _helpers({n: m.file_size for n, m in by_name.items()}, chosen, archive.read)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as error:
        raise SubmissionError(f"{path.name} is not a readable zip file ({error})") from None
    return submission


def _helpers(sizes: dict[str, int], chosen: str, read) -> dict[str, bytes]:
    """The Python modules in the graded file's own folder, so that its imports of them work."""
    folder = PurePosixPath(chosen).parent
    names = [
        n for n in sizes
        if n != chosen and PurePosixPath(n).parent == folder and n.endswith(".py")
        and PurePosixPath(n).stem.isidentifier() and PurePosixPath(n).name != "submission.py"
    ]  # fmt: skip
    if len(names) > MAX_HELPERS or sum(sizes[n] for n in names) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"more than {MAX_HELPERS} Python files or {MAX_SUBMISSION_BYTES} bytes beside {chosen}")
    return {PurePosixPath(n).name: bytes(read(n)) for n in sorted(names)}


def _from_bytes(data: bytes, name: str, notes: list[str]) -> Submission:
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{name} is larger than {MAX_SUBMISSION_BYTES} bytes")
    if name.lower().endswith(".ipynb"):
        source, skipped = notebook_source(data, name)
        return Submission(source.encode("utf-8"), name, notes + skipped)
    return Submission(data, name, notes)


def notebook_source(data: bytes, name: str = "notebook.ipynb") -> tuple[str, list[str]]:
    """The code cells of a notebook as one Python text, and notes on the lines left out.

    IPython magics (``%…``, ``%%…`` cells) and shell lines (``!…``) are not Python: they are left
    out, each noted, and replaced by a blank line so that tracebacks keep their line numbers.
    """
    import nbformat

    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as error:  # nbformat raises several kinds for a broken notebook
        raise SubmissionError(f"{name} is not a readable notebook ({type(error).__name__}: {error})") from None
    chunks: list[str] = []
    skipped: list[str] = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        lines = str(cell.get("source", "")).splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            skipped.append(f"cell {number}: the whole {lines[0].split()[0]} cell")
            lines = [""] * len(lines)
        for i, line in enumerate(lines):
            if line.lstrip().startswith(("%", "!")):
                skipped.append(f"cell {number}: {line.strip()[:60]}")
                lines[i] = ""
        chunks.append(f"# cell {number}\n" + "\n".join(lines))
    notes = []
    if skipped:
        notes.append(f"Left out of your notebook (IPython magics and shell commands are not Python): {'; '.join(skipped[:10])}" + (" …" if len(skipped) > 10 else "") + ".")
    return "\n\n".join(chunks) + "\n", notes

"""Turn what a student handed in into the Python text the sandbox imports.

A submission is a ``.py`` file, a Jupyter notebook (``.ipynb``: its code cells, in order, turned
into Python by IPython's own input transformer, magics and shell lines doing nothing and noted), a folder, or a ``.zip`` (never extracted to
disk: members are read in memory, size-capped). In a folder or zip the graded file is the one named
``file`` (default: the assignment template's name); failing that, the only Python file or notebook
there is; otherwise the submission cannot be graded and the message lists the files found.
"""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional, Union

from ..escaping import clean_text, shown_name

logger = logging.getLogger(__name__)

MAX_SUBMISSION_BYTES = 1_000_000  # one graded file's code (a notebook's code cells; its outputs do not count)
MAX_NOTEBOOK_BYTES = 20_000_000  # a notebook file, outputs (images, …) included: read, then only its code is kept
MAX_ZIP_MEMBERS = 1000  # files in a zip or a folder submission
MAX_FOLDER_DEPTH = 8  # folders below a folder submission that are looked into
MAX_HELPERS = 20  # Python files beside the graded one that it may import
MAX_ZIP_BYTES = 50_000_000  # all members together, uncompressed
MAX_ZIP_ENTRIES = 4 * MAX_ZIP_MEMBERS  # entries of a zip's directory, folders and __MACOSX copies included
MAX_ENTRY_BYTES = 46 + 1024  # one directory entry: its fixed part, name, extra field and comment
SOURCE_SUFFIXES = (".py", ".ipynb")
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")


_RUNS_ITS_CODE = re.compile(r"\s*(%time\s|%%time\b|%%capture\b)")  # magics NOTEBOOK_SHELL runs the code of
_TRACEBACK_LINE = re.compile(r'File "submission\.py", line (\d+)')


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
    cells: Optional[list[tuple[int, int]]] = None  # a notebook's: (cell, line in the cell) of each line of source

    def sources(self) -> Union[bytes, dict[str, bytes]]:
        """What the sandbox runs: the graded text, with its helper modules when there are any."""
        return {"submission.py": self.source, **self.helpers} if self.helpers else self.source

    def locate(self, text: str) -> str:
        """``text`` (a traceback, a syntax error) with the sandbox's copy ``submission.py`` and its line
        numbers replaced by the student's own file, and for a notebook the cell and its line."""
        shown = shown_name(PurePosixPath(self.name.rpartition(":")[2].replace(os.sep, "/")).name or self.name)

        def where(match: "re.Match[str]") -> str:
            line = int(match.group(1))
            if self.cells is None:
                return f'File "{shown}", line {line}'
            if 1 <= line <= len(self.cells) and self.cells[line - 1][0] > 0:
                cell, within = self.cells[line - 1]
                return f'File "{shown}", cell {cell}, line {within}'
            return f'File "{shown}"'

        return _TRACEBACK_LINE.sub(where, text)

    def locate_runs(self, runs: dict) -> None:
        """``locate`` every message of the sandbox's FunctionRuns (and their CaseRuns), in place."""
        for run in runs.values():
            run.message = self.locate(run.message)
            for returned in run.cases.values():
                returned.message = self.locate(returned.message)


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
        submission = _from_bytes(read_file(files[chosen], single_link, _file_limit(chosen)), str(target / chosen), _several(files, chosen))
        submission.helpers = _helpers({n: files[n].stat().st_size for n in files}, chosen, lambda n: read_file(files[n], single_link))
        return submission
    if target.suffix.lower() == ".zip":
        return _from_zip(target, file, default_name, read_file(target, single_link, MAX_ZIP_BYTES, check_zip_end))
    return _from_bytes(read_file(target, single_link, _file_limit(target.name)), str(target), [])


def _file_limit(name: str) -> int:
    """Bytes a graded file may have: a notebook's outputs do not count against the code's limit."""
    return MAX_NOTEBOOK_BYTES if name.lower().endswith(".ipynb") else MAX_SUBMISSION_BYTES


def _too_large(name: str, size: object, limit: int) -> str:
    hint = (
        "; clear its outputs (Kernel → Restart & Clear Output, or jupyter nbconvert --clear-output) and save it again"
        if name.lower().endswith(".ipynb") else ""
    )
    return f"{name} is {size} bytes; the limit is {limit}{hint}"


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
            raise SubmissionError(_too_large(shown_name(path.name), info.st_size, limit))
        if check_end is not None:
            f.seek(max(0, info.st_size - _TAIL))
            check_end(f.read(_TAIL), shown_name(path.name))
            f.seek(0)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise SubmissionError(_too_large(shown_name(path.name), f"more than {limit}", limit))
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
            limit = _file_limit(chosen)
            if member.file_size > limit:
                raise SubmissionError(_too_large(chosen, member.file_size, limit))
            member_data = archive.read(member)[: limit + 1]
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
    if name.lower().endswith(".ipynb"):
        if len(data) > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(_too_large(name, len(data), MAX_NOTEBOOK_BYTES))
        source, skipped, cells = notebook_code(data, name)
        code = source.encode("utf-8", "surrogatepass")
        if len(code) > MAX_SUBMISSION_BYTES:
            raise SubmissionError(f"the code cells of {name} are {len(code)} bytes; the limit is {MAX_SUBMISSION_BYTES}")
        return Submission(code, name, notes + skipped, cells=cells)
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(_too_large(name, len(data), MAX_SUBMISSION_BYTES))
    return Submission(data, name, notes)


# get_ipython() for a graded notebook, on one line: IPython's transformer turns %magic, !cmd and
# obj? into calls on it. Only %time / %%time / %%capture run their code (as in IPython, where
# their assignments stay defined); every other magic and shell command does nothing.
NOTEBOOK_SHELL = (
    "get_ipython = (lambda _g: (lambda: type('NotebookShell', (), {"
    "'run_line_magic': lambda self, name, line, *a, **k: exec(line, _g) if name == 'time' else None, "
    "'run_cell_magic': lambda self, name, line, cell, *a, **k: exec(cell, _g) if name in ('time', 'capture') else None, "
    "'getoutput': lambda self, *a, **k: [], "
    "'__getattr__': lambda self, attr: (lambda *a, **k: None)})()))(globals())  # handprop: magics and shell commands are not run"
)


def notebook_source(data: bytes, name: str = "notebook.ipynb") -> tuple[str, list[str]]:
    """The code cells of a notebook as one Python text, and notes on the lines that were not run."""
    source, notes, _ = notebook_code(data, name)
    return source, notes


def notebook_code(data: bytes, name: str = "notebook.ipynb") -> tuple[str, list[str], list[tuple[int, int]]]:
    """(Python text, notes, (cell, line) of each line of the text) of a notebook's code cells.

    Each cell goes through IPython's own input transformer (``TransformerManager``), the one a
    notebook runs its cells through, so ``%magic``, ``!cmd``, ``x = !cmd`` and ``obj?`` become calls
    on ``get_ipython()`` (``NOTEBOOK_SHELL``: they do nothing) while valid Python, such as a line
    that starts with ``%`` inside parentheses, stays as it is. A notebook scores what its code scores.
    Outputs are never read. A notebook nbformat cannot read, or whose cells are not text, raises
    SubmissionError in one line (nbformat's own log of the problem is not printed).
    """
    notebook = _read_notebook(data, name)
    from IPython.core.inputtransformer2 import TransformerManager

    transformer = TransformerManager()
    chunks: list[str] = []
    cells: list[tuple[int, int]] = []
    skipped: list[str] = []
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = _cell_text(cell.get("source", ""), name, number)
        try:
            code = transformer.transform_cell(text)
        except Exception:  # the transformer gives up (say, unbalanced brackets): compile reports the cell
            code = text
        original = text.splitlines()
        lines = code.splitlines()
        if len(lines) == len(original):
            changed = [o for o, c in zip(original, lines) if o != c]
            mapping = [(number, i) for i in range(1, len(lines) + 1)]
        else:  # a cell magic: the whole cell became one call
            changed = [original[0]] if original else []
            mapping = [(number, 1)] * len(lines)
        skipped += [f"cell {number}: {line.strip()[:60]}" for line in changed if not _RUNS_ITS_CODE.match(line)]
        chunks.append(f"# cell {number}\n" + "\n".join(lines))
        cells += [(number, 0)] + mapping + [(0, 0)]  # the header line, the cell, the blank line after it
    body = "\n\n".join(chunks) + "\n"
    notes = []
    if skipped:
        notes.append(
            "Not run from your notebook (IPython magics and shell commands do nothing when grading): "
            + "; ".join(skipped[:10]) + (" …" if len(skipped) > 10 else "") + "."
        )
    if "get_ipython" in body:
        return NOTEBOOK_SHELL + "\n" + body, notes, [(0, 0)] + cells
    return body, notes, cells


def _read_notebook(data: bytes, name: str) -> dict:
    """The notebook as nbformat reads it (v4), its validation problems kept out of the log."""
    import nbformat

    from nbformat.reader import reads as read_any_version

    try:
        # nbformat.reads would log a multi-line "Notebook JSON is invalid" dump (with the student's
        # source) for a merely untidy notebook; read and convert without its validation, and let the
        # cells speak for themselves (_cell_text refuses a cell that is not text).
        with warnings.catch_warnings():  # nbformat's warnings are about the student's file: not the grader's output
            warnings.simplefilter("ignore")
            notebook = nbformat.convert(read_any_version(data.decode("utf-8")), 4)
    except Exception as error:  # nbformat raises several kinds for a broken notebook
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise SubmissionError(f"{name} is not a readable notebook ({type(error).__name__}: {reason})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells", []), list):
        raise SubmissionError(f"{name} is not a readable notebook (it has no list of cells)")
    return notebook


def _cell_text(source: object, name: str, number: int) -> str:
    """A cell's source: text, or a list of text lines (nbformat's on-disk form); anything else is refused."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    raise SubmissionError(f"{name} is not a readable notebook: the source of cell {number} is not text")

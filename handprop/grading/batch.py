"""Grade a folder of submissions into one CSV (one row per student, one column per function) and one
feedback folder beside it (each student's text report and Gradescope results.json).

A submission is any ``.py``, ``.ipynb`` or ``.zip`` file, or a folder, directly in the batch folder;
the student's name is its name without the suffix. Submissions are graded ``jobs`` at a time in
worker processes (each with its own sandbox children); the rows are in name order whatever the
order of completion, so the CSV does not depend on ``jobs``. One submission that cannot be graded,
or whose worker dies, is one error row; the CSV is always written, atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from tqdm import tqdm

from .config import GradingConfig
from .grader import GradeReport, grade_file, points_text
from .report import render, write_atomic
from .sandbox import SandboxError, clean_text, shown_name

logger = logging.getLogger(__name__)

SUBMISSION_SUFFIXES = (".py", ".ipynb", ".zip")


@dataclass
class BatchRow:
    """One student's outcome: the report, or the reason there is none."""

    student: str
    path: Path
    report: Optional[GradeReport]
    error: str = ""


def find_submissions(folder: Union[str, os.PathLike]) -> list[Path]:
    """The submissions in ``folder``, sorted by name: files with a known suffix and sub-folders."""
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"submissions folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"--batch expects a folder of submissions; {root} is a file, not a folder")
    # Links are listed too: each becomes an error row ("links are not graded"), never a read.
    found = sorted(
        p for p in root.iterdir()
        if not p.name.startswith(".") and (p.is_symlink() or p.is_dir() or (p.is_file() and p.suffix.lower() in SUBMISSION_SUFFIXES))
    )  # fmt: skip
    if not found:
        raise ValueError(f"no submissions in {root} (expected .py, .ipynb or .zip files, or one folder per student)")
    return found


MAX_KEY_BYTES = 200  # a student key, UTF-8: NAME.results.json must stay within a file name's 255 bytes


def _student(path: Path) -> str:
    return path.name if path.is_dir() and not path.is_symlink() else path.stem


def _short(key: str, original: str) -> str:
    """``key`` within MAX_KEY_BYTES: cut, with a digest of the original name so that cuts stay distinct."""
    if len(key.encode("utf-8")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    cut = key.encode("utf-8")[: MAX_KEY_BYTES - 11].decode("utf-8", "ignore")
    return f"{cut}~{digest}"


def student_keys(paths: list[Path]) -> dict[Path, str]:
    """Each submission's student name: a unique key, escaped (shown_name: control characters and
    the bytes of a name that is not UTF-8 as ``\\xNN``) and short enough to name a feedback file.

    The key is the name without its suffix; where several submissions share it (``alice.py``,
    ``alice.zip`` and the folder ``alice/``), each is keyed by its full name instead (``alice.py``,
    ``alice.zip``, ``alice``), and any key still taken gets ``~2``, ``~3``… in name order. A clash
    is logged as one line; every submission keeps its own row and feedback files."""
    base = {p: _short(shown_name(_student(p)), _student(p)) for p in paths}
    counts: dict[str, list[Path]] = {}
    for p in paths:
        counts.setdefault(base[p], []).append(p)
    keys: dict[Path, str] = {}
    taken: set[str] = set()
    clashes = {k: ps for k, ps in counts.items() if len(ps) > 1}
    for p in paths:
        key = base[p] if base[p] not in clashes else _short(shown_name(p.name), p.name)
        candidate, n = key, 1
        while candidate in taken:
            n += 1
            candidate = f"{key}~{n}"
        keys[p] = candidate
        taken.add(candidate)
    for key, ps in clashes.items():
        logger.warning("submissions %s share the student name %s; their rows are named %s",
                       ", ".join(shown_name(p.name) for p in ps), key, ", ".join(keys[p] for p in ps))  # fmt: skip
    return keys


def _grade_one(path: Path, config: GradingConfig) -> tuple[Optional[GradeReport], str]:
    """Grade one submission; every failure becomes an error text: one row, never a lost batch."""
    try:
        return grade_file(path, config, single_link=True), ""
    except SandboxError as error:
        return None, f"the grader could not run: {error}"
    except Exception as error:  # one broken submission is one error row
        logger.warning("could not grade %s: %s", shown_name(path), clean_text(str(error), newlines=False))
        text = str(error) if isinstance(error, (OSError, ValueError)) else f"{type(error).__name__}: {error}"
        return None, clean_text(text or type(error).__name__).replace("\n", " ")


def _check_classmates_hidden(root: Path, paths: list[Path], config: GradingConfig) -> None:
    """In the uid sandbox a submission sees the real file system: refuse a folder whose files the
    sandbox user can read, since each submission could then read its classmates' (bwrap shows the
    submission nothing of the host's folders)."""
    from .sandbox import modes

    limits = config.sandbox
    launch = modes.resolve(config.sandbox_mode, limits.uid, limits.group, limits.forbidden_imports)
    if launch.mode != "uid" or launch.uid is None:
        return
    exposed = [p for p in paths if modes.readable_by(str(p), launch.uid, launch.gid or launch.uid)]
    if exposed:
        raise PermissionError(
            f"in the uid sandbox each submission could read its classmates' files in {root} "
            f"({exposed[0].name} is readable by uid {launch.uid}): make the folder private (chmod 700) or use --sandbox bwrap"
        )


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def grade_folder(
    folder: Union[str, os.PathLike], config: GradingConfig, progress: Optional[bool] = None, jobs: Optional[int] = None
) -> list[BatchRow]:
    """Grade every submission in ``folder``; rows in name order.

    ``jobs`` submissions are graded at once (default: the number of cores); ``progress`` None
    shows a bar on stderr only when stderr is a terminal. Each file is read by the grader (never
    through a link) and handed to its own sandbox over a pipe: no submission can see another's.
    """
    paths = find_submissions(folder)
    _check_classmates_hidden(Path(folder), paths, config)
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(paths), desc="grading", unit="submission", file=sys.stderr, disable=not show)
    outcomes: dict[Path, tuple[Optional[GradeReport], str]] = {}
    try:
        if jobs == 1 or len(paths) == 1:
            for path in paths:
                outcomes[path] = _grade_one(path, config)
                bar.update()
        else:
            _grade_parallel(paths, config, min(jobs, len(paths)), outcomes, bar)
    finally:
        bar.close()
    keys = student_keys(paths)
    return [BatchRow(keys[p], p, *outcomes[p]) for p in paths]


def _grade_parallel(paths: list[Path], config: GradingConfig, jobs: int, outcomes: dict, bar: tqdm) -> None:
    import multiprocessing

    # forkserver: workers do not inherit this process's threads (the progress bar's) or its state.
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future, Path] = {pool.submit(_grade_one, path, config): path for path in paths}
        for future in as_completed(futures):
            path = futures[future]
            try:
                outcomes[path] = future.result()
            except BrokenProcessPool:
                outcomes[path] = (None, "the grader's worker process died while grading this submission")
            bar.update()


def results_csv(rows: list[BatchRow], config: GradingConfig) -> str:
    """CSV text: student, one score column per function, total, max, mistake tags, error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *config.functions, "total", "max_score", "tags", "error"])
    for row in rows:
        report = row.report
        if report is None:
            writer.writerow([_text_cell(row.student), *[""] * len(config.functions), "", points_text(config.max_score), "", _text_cell(row.error)])
            continue
        scores = [points_text(report.functions[f].score) for f in config.functions]
        tags = "; ".join(f"{f}: {', '.join(s.tags)}" for f, s in report.functions.items() if s.tags)
        writer.writerow([_text_cell(row.student), *scores, points_text(report.score), points_text(report.max_score), tags, ""])
    return buffer.getvalue()


def _text_cell(text: str) -> str:
    """Text a student chose (a file name, an error naming their files) as a CSV cell that a
    spreadsheet shows as text: one starting with = + - @ or a tab/CR would be run as a formula
    (=HYPERLINK(...) phishing, DDE), so it gets a leading apostrophe, as OWASP advises."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def feedback_folder(output: Union[str, os.PathLike]) -> Path:
    """Where the per-student feedback goes: ``grades-feedback/`` beside ``grades.csv``."""
    out = Path(output)
    return out.with_name(out.stem + "-feedback")


def write_feedback(rows: list[BatchRow], folder: Path) -> None:
    """Each student's text report (``NAME.txt``, ready to hand back: hidden cases left out) and
    Gradescope results (``NAME.results.json``, each test with its visibility)."""
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row.report is None:
            write_atomic(folder / f"{row.student}.txt", f"{shown_name(row.path.name)}: not graded: {clean_text(row.error, newlines=False)}\n")
            continue
        write_atomic(folder / f"{row.student}.txt", render(row.report, "text", student=True))
        write_atomic(folder / f"{row.student}.results.json", render(row.report, "gradescope"))


def grade_folder_to_csv(
    folder: Union[str, os.PathLike],
    output: Union[str, os.PathLike],
    config: GradingConfig,
    progress: Optional[bool] = None,
    jobs: Optional[int] = None,
) -> list[BatchRow]:
    """Grade ``folder``, write the CSV to ``output`` (atomically) and the feedback folder beside it."""
    if not Path(output).parent.is_dir():
        raise FileNotFoundError(f"folder {Path(output).parent} does not exist")
    rows = grade_folder(folder, config, progress, jobs)
    write_feedback(rows, feedback_folder(output))
    write_atomic(output, results_csv(rows, config))
    return rows


def summary(rows: list[BatchRow]) -> str:
    """One line for the instructor."""
    failed = sum(1 for row in rows if row.report is None)
    return f"graded {len(rows) - failed} of {len(rows)} submissions"


__all__ = ["BatchRow", "default_jobs", "feedback_folder", "find_submissions", "grade_folder", "grade_folder_to_csv", "results_csv", "summary"]

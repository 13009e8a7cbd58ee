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
import dataclasses
import hashlib
import io
import logging
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

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


_slot: Optional[int] = None  # this worker's parallel slot (its own sandbox uid), set once per worker


def _take_slot(slots) -> None:
    """ProcessPoolExecutor initializer: claim a slot number for the life of this worker."""
    global _slot
    _slot = slots.get()


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


def _grade_one(path: Path, config: GradingConfig, student: str) -> tuple[Optional[GradeReport], str]:
    """Grade one submission; every failure becomes an error text: one row, never a lost batch.
    ``student``: its unique key (``student_keys``), also the id of per-student cases."""
    if _slot is not None:  # its own uid: process limits, signals and keyrings never cross classmates
        config = dataclasses.replace(config, sandbox=config.sandbox.for_slot(_slot))
    try:
        return grade_file(path, config, single_link=True, student=student), ""
    except SandboxError as error:
        return None, f"the grader could not run: {error}"
    except Exception as error:  # one broken submission is one error row
        logger.warning("could not grade %s: %s", shown_name(path), clean_text(str(error), newlines=False))
        text = str(error) if isinstance(error, (OSError, ValueError)) else f"{type(error).__name__}: {error}"
        return None, clean_text(text or type(error).__name__).replace("\n", " ")


def slot_uids(config: GradingConfig, jobs: int) -> list[Optional[int]]:
    """The sandbox uid of each parallel slot: one of its own per slot as root (``slot_uid_base + i``);
    the configured one for a single job."""
    limits = config.sandbox
    if jobs == 1 or limits.uid is None:
        return [limits.uid]
    return [limits.for_slot(i).uid for i in range(jobs)]


def check_containment(root: Path, paths: list[Path], config: GradingConfig, jobs: int, outputs: list[Path]) -> None:
    """Fail closed before grading anything: raises SandboxError when a layer cannot be set up.

    ``--jobs > 1`` needs a uid per slot (the grader runs as root), unless the instructor allowed a
    weaker sandbox or runs without one. In the uid sandbox a submission sees the real file system:
    every file of the classmates and every existing output of the grader is tried as each slot's
    user, file by file (``sandbox.exposure``): any it can read is refused (not a matter of
    --allow-weaker-sandbox: the fix, chmod, is always at hand)."""
    from .sandbox import exposure, modes

    limits = config.sandbox
    if jobs > 1 and limits.uid is None and config.sandbox_mode != "none" and not limits.allow_weaker:
        raise SandboxError(
            f"--jobs {jobs} grades submissions side by side, but without root every one runs as the same user (process "
            "limits and signals would cross classmates): run the grader as root, use --jobs 1, or --allow-weaker-sandbox"
        )  # fmt: skip
    refusal: Optional[SandboxError] = None
    try:
        launch = modes.resolve(config.sandbox_mode, limits.uid, limits.group, limits.forbidden_imports, limits.max_file_mb,
                               limits.allow_weaker)  # fmt: skip
    except SandboxError as error:  # said after the classmates' files, which no flag excuses
        refusal = error
        launch = modes.resolve(config.sandbox_mode, limits.uid, limits.group, limits.forbidden_imports, limits.max_file_mb, True)
    if launch.mode != "uid" or launch.uid is None:
        if refusal is not None:
            raise refusal
        return
    for uid in dict.fromkeys(slot_uids(config, jobs)):
        if uid is None:
            continue
        gid = uid if uid != limits.uid else (launch.gid if launch.gid is not None else uid)
        if uid != limits.uid and refusal is None:  # a slot's packages: the check the sandbox makes for its user
            try:
                modes.resolve("uid", uid, uid, limits.forbidden_imports, limits.max_file_mb, limits.allow_weaker)
            except SandboxError as error:
                refusal = error
        try:
            exposed = exposure.readable_as(uid, gid, paths)
            leaked = exposure.readable_as(uid, gid, [p for p in outputs if p.exists()])
        except exposure.ExposureCheckFailed as error:
            raise SandboxError(str(error)) from None
        if exposed:
            raise PermissionError(
                f"in the uid sandbox each submission could read its classmates' files in {root} (uid {uid} can read "
                f"{exposure.describe(exposed)}): make the folder private (chmod 700, and chmod -R go-rwx its contents) "
                "or use --sandbox bwrap"
            )  # fmt: skip
        if leaked:
            raise PermissionError(
                f"in the uid sandbox a submission could read the grader's earlier outputs (uid {uid} can read "
                f"{exposure.describe(leaked)}): chmod -R go-rwx them, or remove them"
            )  # fmt: skip
    if refusal is not None:
        raise refusal


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def grade_folder(
    folder: Union[str, os.PathLike], config: GradingConfig, progress: Optional[bool] = None, jobs: Optional[int] = None,
    outputs: tuple[Path, ...] = (),
) -> list[BatchRow]:
    """Grade every submission in ``folder``; rows in name order.

    ``jobs`` submissions are graded at once (default: the number of cores as root, where each
    slot runs as a uid of its own; else one); ``progress`` None shows a bar on stderr only when
    stderr is a terminal. Each file is read by the grader (never through a link) and handed to its
    own sandbox over a pipe: no submission can see another's. ``outputs``: the grader's files
    (the CSV, the feedback folder), which the sandbox user must not be able to read.
    Raises SandboxError (before grading anything) when a layer cannot be set up.
    """
    paths = find_submissions(folder)
    from .features import with_secret

    config = with_secret(config)  # read once here (the workers may not see the environment); no secret, no batch
    if jobs is None:  # one per core, where each slot can have a uid of its own
        limits = config.sandbox
        jobs = default_jobs() if limits.uid is not None or limits.allow_weaker or config.sandbox_mode == "none" else 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    jobs = min(jobs, len(paths))
    check_containment(Path(folder), paths, config, jobs, list(outputs))
    keys = student_keys(paths)  # unique, escaped: the rows, the feedback files and the per-student case ids
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(paths), desc="grading", unit="submission", file=sys.stderr, disable=not show)
    outcomes: dict[Path, tuple[Optional[GradeReport], str]] = {}
    try:
        if jobs == 1 or len(paths) == 1:
            for path in paths:
                outcomes[path] = _grade_one(path, config, keys[path])
                bar.update()
        else:
            _grade_parallel(paths, keys, config, jobs, outcomes, bar)
    finally:
        bar.close()
    return [BatchRow(keys[p], p, *outcomes[p]) for p in paths]


def _grade_parallel(paths: list[Path], keys: dict[Path, str], config: GradingConfig, jobs: int, outcomes: dict, bar: tqdm) -> None:
    import multiprocessing

    # forkserver: workers do not inherit this process's threads (the progress bar's) or its state.
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    slots = context.Queue()
    for slot in range(jobs):
        slots.put(slot)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_take_slot, initargs=(slots,)) as pool:
        futures: dict[Future, Path] = {pool.submit(_grade_one, path, config, keys[path]): path for path in paths}
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
    Gradescope results (``NAME.results.json``, each test with its visibility), 0600 in a folder of
    mode 0700: the grader's, never a submission's."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for row in rows:
        if row.report is None:
            write_atomic(folder / f"{row.student}.txt", f"{shown_name(row.path.name)}: not graded: {clean_text(row.error, newlines=False)}\n")
            continue
        write_atomic(folder / f"{row.student}.txt", render(row.report, "text", student=True))
        write_atomic(folder / f"{row.student}.results.json", render(row.report, "gradescope"))


def check_batch_outputs(
    folder: Union[str, os.PathLike], output: Union[str, os.PathLike], force: bool = False, inputs: Sequence[Any] = ()
) -> tuple[Path, Path]:
    """(CSV, feedback folder), checked before any grading (``handprop.outputs``): both outside the
    batch folder (else the next run would grade them as a student), neither an input, and neither
    replacing an existing file or a non-empty folder unless ``force``."""
    from ..outputs import check_new_file, check_new_folder

    sources = [folder, *(i for i in inputs if i is not None)]
    csv_path = check_new_file(output, force=force, what="the grades CSV", inputs=sources)
    feedback = check_new_folder(feedback_folder(output), force=force, what="the feedback folder", inputs=sources)
    from .class_report import report_path

    check_new_file(report_path(output), force=force, what="the class report", inputs=sources)
    return csv_path, feedback


def _replace_feedback(rows: list[BatchRow], feedback: Path) -> None:
    """Write the feedback into a new folder, then put it in place of ``feedback`` (whose old
    content ``check_batch_outputs`` allowed to replace): no stale student's file survives."""
    import shutil
    import tempfile

    fresh = Path(tempfile.mkdtemp(dir=feedback.parent, prefix=f".{feedback.name}.", suffix=".tmp"))
    try:
        os.chmod(fresh, 0o700)  # the grader's own files: no sandbox user reads a classmate's feedback
        write_feedback(rows, fresh)
        if feedback.exists():
            old = Path(tempfile.mkdtemp(dir=feedback.parent, prefix=f".{feedback.name}.", suffix=".old"))
            os.replace(feedback, old / "feedback")
            os.replace(fresh, feedback)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(fresh, feedback)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise


def grade_folder_to_csv(
    folder: Union[str, os.PathLike],
    output: Union[str, os.PathLike],
    config: GradingConfig,
    progress: Optional[bool] = None,
    jobs: Optional[int] = None,
    force: bool = False,
    inputs: Sequence[Any] = (),
) -> list[BatchRow]:
    """Grade ``folder``, write the CSV to ``output`` (atomically), the feedback folder and the class
    report (``class_report.py``) beside it.

    All three outputs are checked before grading (``check_batch_outputs``): outside ``folder``, not
    one of ``inputs``, and an existing file or non-empty feedback folder is replaced only with ``force``.
    An earlier run's outputs are made private first: the sandbox user must not read them.
    """
    from .class_report import report_path, write_class_report

    csv_path, feedback = check_batch_outputs(folder, output, force, inputs)
    _make_private([csv_path, report_path(csv_path)], feedback)
    rows = grade_folder(folder, config, progress, jobs, outputs=(csv_path, feedback, report_path(csv_path)))
    _replace_feedback(rows, feedback)
    write_atomic(csv_path, results_csv(rows, config))
    write_class_report(rows, config, csv_path, feedback)
    return rows


def _make_private(outputs: Sequence[Path], feedback: Path) -> None:
    """Before any submission runs: an earlier run's outputs (perhaps 0644, from an older handprop)
    become the grader's alone, so a submission graded under the sandbox user cannot read them."""
    for output in outputs:
        if output.is_file() and not output.is_symlink():
            os.chmod(output, 0o600)
    if feedback.is_dir() and not feedback.is_symlink():
        os.chmod(feedback, 0o700)
        for entry in os.scandir(feedback):
            if entry.is_file(follow_symlinks=False):
                os.chmod(entry.path, 0o600)  # a regular file (links are skipped above)


def summary(rows: list[BatchRow]) -> str:
    """One line for the instructor."""
    failed = sum(1 for row in rows if row.report is None)
    return f"graded {len(rows) - failed} of {len(rows)} submissions"


__all__ = ["BatchRow", "check_batch_outputs", "default_jobs", "feedback_folder", "find_submissions", "grade_folder", "grade_folder_to_csv", "results_csv", "summary"]

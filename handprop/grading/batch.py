"""Grade a folder of submissions into one CSV: one row per student, one column per function."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Union

from tqdm import tqdm

from .config import GradingConfig
from .grader import GradeReport, grade_file
from .report import write_atomic
from .sandbox import SandboxError, clean_text

logger = logging.getLogger(__name__)


def grade_folder(
    folder: Union[str, os.PathLike], config: GradingConfig, progress: Optional[bool] = None
) -> list[tuple[Path, Optional[GradeReport], str]]:
    """Grade every ``*.py`` in ``folder`` (sorted by name): (path, report or None, error text).

    A file that cannot be graded (a link, too large, unreadable, anything that goes wrong) gets an
    error row instead of stopping the batch. Each file is read by the grader (never through a link)
    and handed to its own sandbox over a pipe: no submission can see another's file or folder.
    ``progress`` None shows a bar on stderr only when stderr is a terminal.
    """
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"submissions folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"--batch expects a folder of .py files; {root} is a file, not a folder")
    files = sorted(p for p in root.glob("*.py") if p.is_file() or p.is_symlink())
    if not files:
        raise ValueError(f"no .py files in {root}")
    _check_classmates_hidden(root, files, config)
    show = sys.stderr.isatty() if progress is None else progress
    results: list[tuple[Path, Optional[GradeReport], str]] = []
    for path in tqdm(files, desc="grading", unit="file", file=sys.stderr, disable=not show):
        try:
            results.append((path, grade_file(path, config, single_link=True), ""))
        except SandboxError as error:
            results.append((path, None, f"the grader could not run: {error}"))
        except Exception as error:  # one broken submission is one error row, never a lost batch
            logger.warning("could not grade %s: %s", path, error)
            results.append((path, None, clean_text(str(error) or type(error).__name__).replace("\n", " ")))
    return results


def _check_classmates_hidden(root: Path, files: list[Path], config: GradingConfig) -> None:
    """In the uid sandbox a submission sees the real file system: refuse a folder whose files the
    sandbox user can read, since each submission could then read its classmates' (bwrap shows the
    submission nothing of the host's folders)."""
    from .sandbox import modes

    limits = config.sandbox
    launch = modes.resolve(config.sandbox_mode, limits.uid, limits.group, limits.forbidden_imports)
    if launch.mode != "uid" or launch.uid is None:
        return
    exposed = [p for p in files if modes.readable_by(str(p), launch.uid, launch.gid or launch.uid)]
    if exposed:
        raise PermissionError(
            f"in the uid sandbox each submission could read its classmates' files in {root} "
            f"({exposed[0].name} is readable by uid {launch.uid}): make the folder private (chmod 700) or use --sandbox bwrap"
        )


def results_csv(results: list[tuple[Path, Optional[GradeReport], str]], config: GradingConfig) -> str:
    """CSV text: student, one score column per function, total, max, mistake tags, error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", *config.functions, "total", "max_score", "tags", "error"])
    for path, report, error in results:
        if report is None:
            writer.writerow([path.stem, *[""] * len(config.functions), "", config.max_score, "", error])
            continue
        scores = [f"{report.functions[f].score:g}" for f in config.functions]
        tags = "; ".join(f"{f}: {', '.join(s.tags)}" for f, s in report.functions.items() if s.tags)
        writer.writerow([path.stem, *scores, f"{report.score:g}", f"{report.max_score:g}", tags, ""])
    return buffer.getvalue()


def grade_folder_to_csv(
    folder: Union[str, os.PathLike], output: Union[str, os.PathLike], config: GradingConfig, progress: Optional[bool] = None
) -> list[tuple[Path, Optional[GradeReport], str]]:
    results = grade_folder(folder, config, progress)
    write_atomic(output, results_csv(results, config))
    return results

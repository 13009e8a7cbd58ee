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
from .sandbox import SandboxError

logger = logging.getLogger(__name__)


def grade_folder(
    folder: Union[str, os.PathLike], config: GradingConfig, progress: Optional[bool] = None
) -> list[tuple[Path, Optional[GradeReport], str]]:
    """Grade every ``*.py`` in ``folder`` (sorted by name): (path, report or None, error text).

    A file that cannot be graded (too large, unreadable) gets an error row instead of stopping the
    batch; a broken sandbox (``SandboxError``) stops it, since every other file would fail too.
    ``progress`` None shows a bar on stderr only when stderr is a terminal.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder {root} does not exist")
    files = sorted(p for p in root.glob("*.py") if p.is_file())
    if not files:
        raise ValueError(f"no .py files in {root}")
    show = sys.stderr.isatty() if progress is None else progress
    results: list[tuple[Path, Optional[GradeReport], str]] = []
    for path in tqdm(files, desc="grading", unit="file", file=sys.stderr, disable=not show):
        try:
            results.append((path, grade_file(path, config), ""))
        except SandboxError:
            raise
        except (OSError, ValueError) as error:
            logger.warning("could not grade %s: %s", path, error)
            results.append((path, None, str(error)))
    return results


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

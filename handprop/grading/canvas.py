"""The batch's grades as a CSV that Canvas's gradebook import accepts.

Canvas imports the layout of its own gradebook export (Canvas Instructor Guide, "How do I import
grades in the Gradebook?"; e.g. https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
the columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID`` and ``Section``, then one column
per assignment (an existing assignment's column is named ``Title (id)``; a new name creates a new
assignment), and optionally a ``Points Possible`` row under the header. Canvas matches each row to a
student by ``ID``, ``SIS User ID`` or ``SIS Login ID``; the batch knows each student by the name of
their entry, which goes into ``Student`` and ``SIS Login ID`` (name the entries by login ID). A
submission that could not be graded gets an empty cell: Canvas leaves that grade unchanged.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from .batch import _text_cell
from .grader import points_text

COLUMNS: tuple[str, ...] = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def default_column(config: Any) -> str:
    """The assignment column's default name, e.g. ``handprop network``."""
    return f"handprop {config.assignment}"


def canvas_csv(rows: list[Any], config: Any, column: str = "") -> str:
    """CSV text for Canvas's gradebook import: one row per student, the total score in ``column``."""
    column = column or default_column(config)
    if not isinstance(column, str) or not column.strip() or "\n" in column:
        raise ValueError(f"the Canvas assignment column must be a one-line name, got {column!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, column])
    writer.writerow(["Points Possible", "", "", "", "", points_text(config.max_score)])
    for row in rows:
        name = _text_cell(row.student)
        writer.writerow([name, "", "", name, "", "" if row.report is None else points_text(row.report.score)])
    return buffer.getvalue()

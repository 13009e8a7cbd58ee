"""The class report (issue 20): --batch writes one self-contained HTML page beside the CSV, checked
in a real browser (Debian's headless Chromium): it renders, and its numbers equal the CSV's; the
similar-pairs table finds the renamed copy; --canvas-csv writes Canvas's import columns.

The class is docs/grading/class: ada and ben correct, cem wrong (sign), dan cem's code renamed and
reformatted, eve without the batch mean, fay tanh everywhere (forward and backward)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from handprop.cli import main
from handprop.grading.batch import BatchRow
from handprop.grading.class_report import render_class_report
from handprop.grading.similarity import normalise, similar_pairs
from handprop.grading.student_cases import SECRET_ENV

from grading_helpers import REFERENCE, fast_config

CLASS = Path(__file__).resolve().parents[1] / "docs" / "grading" / "class"
FAST = ["--timeout", "5", "--no-progress", "--jobs", "2"]
MAX_BYTES = 2 * 2**20


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Debian's chromium is not installed (apt-get install chromium); the class report is not checked in a browser"
    if os.environ.get("CI"):
        pytest.fail(reason)
    print(reason)
    pytest.skip(reason)


def dump_dom(page: Path, tmp_path: Path) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}"]  # fmt: skip
    run = subprocess.run([chromium(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "</html>" in run.stdout, run.stderr[-2000:]
    return run.stdout


class Tables(HTMLParser):
    """Rows of cell texts of every table with an id, the histogram's bins and the links."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.bins: list[dict[str, str]] = []
        self.links: list[str] = []
        self._table = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = self.tables.setdefault(a["id"], [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "g" and a.get("class") == "bin":
            self.bins.append(a)
        elif tag == "a":
            self.links.append(a.get("href", ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Tables:
    tables = Tables()
    tables.feed(text)
    return tables


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once with shared cases (--canvas-csv too)."""
    root = tmp_path_factory.mktemp("class")
    out = root / "out"
    out.mkdir()
    assert main(["grade", "--batch", str(CLASS), "--output", str(out / "grades.csv"), "--canvas-csv", str(out / "canvas.csv"), *FAST]) == 0
    return out


def test_the_class_report_renders_in_chromium_and_its_numbers_are_the_csv(graded, tmp_path):
    page = graded / "grades.html"
    text = page.read_text(encoding="utf-8")
    assert len(text.encode()) <= MAX_BYTES
    lowered = text.lower()
    assert "<script" not in lowered and "<link" not in lowered and "url(" not in lowered and "@import" not in lowered
    assert "default-src 'none'" in text  # the browser may fetch nothing at all
    assert "https://" not in lowered and lowered.count("http://") == lowered.count('xmlns="http://www.w3.org/2000/svg"')

    dom = parse(dump_dom(page, tmp_path))
    with open(graded / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    students = dom.tables["students"]
    assert students[0][: len(header) - 1] == header[:-1]  # student, the functions, total, max_score, tags
    assert [r[: len(header) - 1] for r in students[1:]] == [r[:-1] for r in body]

    totals = [float(r[header.index("total")]) for r in body]
    assert sum(int(b["data-count"]) for b in dom.bins) == len(totals) == 6
    for b in dom.bins:
        low, high = float(b["data-low"]), float(b["data-high"])
        inside = [t for t in totals if low <= t < high or (high == 10 and t == 10)]
        assert int(b["data-count"]) == len(inside), b

    mistakes = dom.tables["mistakes"]
    tag_columns = mistakes[0][1:]
    for row in mistakes[1:]:
        function = row[0]
        for tag, cell in zip(tag_columns, row[1:]):
            expected = sum(1 for r in body if f"{function}: " in r[header.index("tags")] and tag in r[header.index("tags")].split(f"{function}: ")[1].split(";")[0])
            assert int(cell or 0) == expected, (function, tag)
    assert "forward-wrong-backprop-consistent" in tag_columns and "missing-batch-mean" in tag_columns

    pairs = dom.tables["similar-pairs"][1:]
    assert [p[:2] for p in pairs] == [["cem", "dan"]]
    assert "code 100% identical" in pairs[0][2] and "bit-identical wrong answers on backprop case 1" in pairs[0][2]
    for link in dom.links:
        assert (graded / link).is_file(), link


def test_the_canvas_csv_has_canvas_columns_and_the_totals(graded):
    with open(graded / "canvas.csv", newline="", encoding="utf-8") as f:
        canvas = list(csv.reader(f))
    with open(graded / "grades.csv", newline="", encoding="utf-8") as f:
        grades = list(csv.DictReader(f))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "handprop network"]
    assert canvas[1][0] == "Points Possible" and canvas[1][-1] == "10"
    assert [(r[0], r[3], r[5]) for r in canvas[2:]] == [(g["student"], g["student"], g["total"]) for g in grades]


def test_per_student_case_ids_differ_between_students_and_are_stable_on_regrade(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "class-of-six-demo-secret-0123456789")
    course = tmp_path / "course.toml"
    course.write_text("per_student_cases = true\nconsistency_credit = 0.25\n")
    ids = []
    for run in ("first", "again"):
        out = tmp_path / run
        out.mkdir()
        assert main(["grade", "--batch", str(CLASS), "--config", str(course), "--output", str(out / "grades.csv"), *FAST]) == 0
        ids.append({s: [t["extra_data"]["case_id"] for t in json.loads((out / "grades-feedback" / f"{s}.results.json").read_text())["tests"]] for s in ("ada", "ben")})
        with open(out / "grades.csv", newline="", encoding="utf-8") as f:
            totals = {r["student"]: r["total"] for r in csv.DictReader(f)}
        assert totals == {"ada": "10", "ben": "10", "cem": "4", "dan": "4", "eve": "4", "fay": "1"}  # fay: 4 × 0.25 for backprop
    assert ids[0] == ids[1]
    assert not set(ids[0]["ada"]) & set(ids[0]["ben"])
    assert "class-of-six" not in (tmp_path / "first" / "grades.html").read_text()


def test_a_hostile_student_name_is_text_on_the_page():
    from handprop.grading import grade_source

    report = grade_source(REFERENCE.encode(), fast_config())
    rows = [BatchRow('<img src=x onerror=alert(1)>"', Path("x.py"), report), BatchRow("ok", Path("ok.py"), None, "<b>not graded</b>")]
    page = render_class_report(rows, fast_config(), "grades-feedback", pairs=[])
    assert "<img" not in page and "<b>" not in page
    dom = parse(page)
    assert dom.tables["students"][1][0] == '<img src=x onerror=alert(1)>"'
    assert dom.links[0] == "grades-feedback/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%22.txt"


def test_normalising_ignores_names_formatting_comments_and_docstrings():
    a = 'def f(x, y):\n    """Doc."""\n    total = x + y  # sum\n    return total * 2\n'
    b = "def g(p,q):\n    s=p+q\n\n    return s*2\n"
    c = "def g(p, q):\n    s = p - q\n    return s * 2\n"
    assert normalise(a) == normalise(b) != normalise(c)
    assert normalise("def (:") is None
    pairs = similar_pairs({"a": a, "b": b, "c": "import numpy as np\nprint(np.zeros(3))\n"}, {})
    assert [(p.first, p.second, p.code_similarity) for p in pairs] == [("a", "b", 1.0)]


def test_a_class_of_copies_keeps_the_page_under_2_mb():
    from handprop.grading import grade_source
    from handprop.grading.class_report import MAX_PAIRS
    from handprop.grading.similarity import SimilarPair

    report = grade_source(REFERENCE.encode(), fast_config())
    rows = [BatchRow(f"student{i:03d}", Path(f"s{i}.py"), report) for i in range(300)]
    pairs = [SimilarPair(a.student, b.student, 1.0, [f"backprop case {k} (id 0123456789ab)" for k in range(1, 9)]) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    page = render_class_report(rows, fast_config(), "grades-feedback", pairs=pairs)
    assert len(page.encode()) <= MAX_BYTES
    assert len(parse(page).tables["similar-pairs"]) == MAX_PAIRS + 1 and f"{len(pairs) - MAX_PAIRS} weaker pairs" in page


def test_canvas_flags_go_with_batch_and_names_are_spreadsheet_safe(tmp_path, capsys):
    from handprop.grading import grade_source
    from handprop.grading.canvas import canvas_csv

    assert main(["grade", str(CLASS / "ada.py"), "--canvas-csv", str(tmp_path / "c.csv")]) != 0
    assert "--canvas-csv and --canvas-column go with --batch" in capsys.readouterr().err
    report = grade_source(REFERENCE.encode(), fast_config())
    rows = [BatchRow("=HYPERLINK(1)", Path("a.py"), report), BatchRow("zed", Path("z.py"), None, "broken")]
    lines = canvas_csv(rows, fast_config(), "Backprop (1234)").splitlines()
    assert lines[0].endswith(",Backprop (1234)") and lines[2] == "'=HYPERLINK(1),,,'=HYPERLINK(1),,10" and lines[3] == "zed,,,zed,,"
    with pytest.raises(ValueError, match="one-line name"):
        canvas_csv(rows, fast_config(), "two\nlines")

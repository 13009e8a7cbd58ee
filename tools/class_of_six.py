"""Grade the class of six in docs/grading/class and print what an instructor sees (docs/grading.md
shows this output; tests/test_doc_examples.py checks it).

    python tools/class_of_six.py

ada and ben are correct, cem has the output error's sign flipped, dan is cem's code with renamed
variables and other formatting, eve forgets the batch mean, fay uses tanh everywhere (forward and
backward). The script grades the folder twice: once with shared cases (the CSV, the Canvas CSV, the
class report's similar pairs, fay's feedback), then twice more with per-student cases under a demo
secret, printing two students' case ids per run (different students, the same ids on regrade).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLASS = REPO / "docs" / "grading" / "class"
DEMO_SECRET = "class-of-six-demo-secret-not-for-a-real-course"


class _Rows(HTMLParser):
    """The cell texts of the rows of table#similar-pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._inside = dict(attrs).get("id") == "similar-pairs"
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._inside = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def grade(folder: Path, out: Path, *flags: str, env: dict | None = None) -> None:
    out.mkdir()
    command = [sys.executable, "-m", "handprop", "grade", "--batch", str(folder), "--output", str(out / "grades.csv"),
               "--jobs", "2", "--no-progress", *flags]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise SystemExit(run.stderr)


def screenshot(page: Path, png: Path) -> None:
    """A 1300-pixel-wide picture of ``page`` by Debian's headless Chromium (docs/class-report-example.png)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("--screenshot needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
                        "--window-size=1300,1420", f"--screenshot={png.resolve()}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description="Grade the class of six and print what an instructor sees.")
    parser.add_argument("--screenshot", metavar="PNG", type=Path, help="also save a picture of the class report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(CLASS, root / "class")
        grade(root / "class", root / "shared", "--canvas-csv", str(root / "shared" / "canvas.csv"))
        if args.screenshot is not None:
            screenshot(root / "shared" / "grades.html", args.screenshot)
        print("grades.csv:")
        print((root / "shared" / "grades.csv").read_text(encoding="utf-8").rstrip())
        print("\ncanvas.csv:")
        print((root / "shared" / "canvas.csv").read_text(encoding="utf-8").rstrip())
        parser = _Rows()
        parser.feed((root / "shared" / "grades.html").read_text(encoding="utf-8"))
        pairs = [r for r in parser.rows if r]
        print(f"\ngrades.html, table#similar-pairs ({len(pairs)} row{'s' * (len(pairs) != 1)}):")
        for first, second, evidence in pairs:
            print(f"  {first} – {second}: {evidence}")
        fay = (root / "shared" / "grades-feedback" / "fay.txt").read_text(encoding="utf-8").splitlines()
        start = next(i for i, line in enumerate(fay) if line.startswith("backprop: case 1"))
        print("\nfay.txt, backprop case 1:")
        print("\n".join(fay[start : start + 2]))

        (root / "course.toml").write_text("per_student_cases = true\n", encoding="utf-8")
        env = dict(os.environ, HANDPROP_COURSE_SECRET=DEMO_SECRET)
        print("\nper-student cases: backprop's case ids")
        for run in ("first run", "regrade"):
            grade(root / "class", root / run.replace(" ", "-"), "--config", str(root / "course.toml"), env=env)
            for student in ("ada", "ben"):
                results = json.loads((root / run.replace(" ", "-") / "grades-feedback" / f"{student}.results.json").read_text())
                ids = [t["extra_data"]["case_id"] for t in results["tests"] if t["name"].startswith("backprop")]
                print(f"  {run:<9}  {student}: {' '.join(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost of issue 20's grading features on a batch: 50 copies of tests/submissions/reference.py
graded with ``--jobs 2``, by another handprop without them (``--before``) and by this checkout with
per-student cases, the self-consistency probes, the late and oracle settings and the class report
on, alternated in one run so both see the same machine load.

    python benchmarks/grading_features.py --before ../base/.venv/bin/handprop [--rounds 3] [--copies 50]

Prints each round's seconds and the ratio after/before (issue 20 allows at most 2).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COURSE = """per_student_cases = true
consistency_credit = 0.5
[late]
penalty_per_hour = 0.01
[oracle]
max_submissions = 5
"""


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the handprop executable without the features (e.g. main's venv)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=50)
    args = parser.parse_args()
    after = [sys.executable, "-m", "handprop"]
    env = dict(os.environ, HANDPROP_COURSE_SECRET="benchmark-secret-0123456789abcdef")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "subs").mkdir()
        for i in range(args.copies):
            shutil.copy(REPO / "tests" / "submissions" / "reference.py", root / "subs" / f"s{i:03d}.py")
        (root / "course.toml").write_text(COURSE, encoding="utf-8")
        common = ["grade", "--batch", str(root / "subs"), "--jobs", "2", "--no-progress"]
        print(f"grading {args.copies} copies with --jobs 2 (waits for each batch)", file=sys.stderr)
        ratios = []
        for r in range(1, args.rounds + 1):
            # a new CSV each round: the output rule refuses to replace one without --force
            before = timed([args.before, *common, "--output", str(root / f"before-{r}.csv")], env)
            now = timed([*after, *common, "--config", str(root / "course.toml"), "--output", str(root / f"after-{r}.csv")], env)
            ratios.append(now / before)
            print(f"round {r}: before {before:.1f} s, after {now:.1f} s, ratio {now / before:.2f}")
        print(f"ratio after/before: {min(ratios):.2f}-{max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

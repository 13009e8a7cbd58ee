"""What the containment layers cost: one submission with and without the seccomp policy, side by
side in one run (issue 19 asks under 10 ms per submission), and, given a baseline ``handprop``
(e.g. the original code's venv), one reference submission and a batch of copies graded by both.

    python benchmarks/containment.py --rounds 8
    python benchmarks/containment.py --rounds 5 --baseline ../base/.venv/bin/handprop --copies 50 --jobs 2

Run as root where bwrap works (the default sandbox); timings alternate between the variants so
that a busy machine slows both alike. Reports medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, set_threads


def policy_cost(rounds: int) -> tuple[float, float]:
    """Median seconds of ``run_submission`` of the reference with the policy, and without it."""
    from handprop.grading import SandboxLimits
    from handprop.grading.cases import build_cases, sandbox_calls
    from handprop.grading.config import GradingConfig
    from handprop.grading.sandbox import run_submission
    from handprop.grading.sandbox import seccomp

    config = GradingConfig(cases=5)
    calls = sandbox_calls(build_cases(config))
    source = (REPO / "tests" / "submissions" / "reference.py").read_bytes()
    on, off = [], []
    original = seccomp.available
    for _ in range(rounds):
        for variant, times in (("on", on), ("off", off)):
            if variant == "off":  # the same sandbox with the policy left out (allowed only for this measurement)
                seccomp.available = lambda: (False, "benchmark")  # type: ignore[assignment]
            start = time.perf_counter()
            run = run_submission(source, calls, SandboxLimits(allow_weaker=variant == "off"), "auto")
            times.append(time.perf_counter() - start)
            seccomp.available = original  # type: ignore[assignment]
            assert ("seccomp" in run.layers) == (variant == "on"), run.layers
    return statistics.median(on), statistics.median(off)


def command_times(programs: dict[str, str], rounds: int, copies: int, jobs: int) -> dict[str, tuple[float, float]]:
    """Median seconds of ``handprop grade reference.py`` and of a batch of ``copies`` copies, for each
    of ``programs`` (name: handprop executable), alternating between them round by round."""
    reference = REPO / "tests" / "submissions" / "reference.py"
    folder = Path(tempfile.mkdtemp(prefix="handprop-bench-"))
    folder.chmod(0o700)
    batch = folder / "class"
    batch.mkdir(mode=0o700)
    for i in range(copies):
        shutil.copy(reference, batch / f"student{i:03d}.py")
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in programs}
    try:
        for round_ in range(rounds):
            for k, (name, handprop) in enumerate(programs.items()):
                single, many = times[name]
                start = time.perf_counter()
                subprocess.run([handprop, "grade", str(reference)], check=True, capture_output=True, cwd=folder)
                single.append(time.perf_counter() - start)
                start = time.perf_counter()
                output = folder / f"grades-{round_}-{k}.csv"  # a new name each time: an existing CSV is not replaced without --force
                subprocess.run([handprop, "grade", "--batch", str(batch), "--output", str(output), "--no-progress",
                                "--jobs", str(jobs)], check=True, capture_output=True, cwd=folder)  # fmt: skip
                many.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(folder)
    return {name: (statistics.median(a), statistics.median(b)) for name, (a, b) in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", help="another handprop executable to time beside this checkout's")
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--policy-rounds", type=int, default=20, help="rounds of the policy's cost (default 20)")
    args = parser.parse_args()
    set_threads(1)
    on, off = policy_cost(args.policy_rounds)
    print(f"one submission (run_submission, median of {args.policy_rounds}): policy on {on * 1000:.0f} ms, off {off * 1000:.0f} ms, "
          f"cost {(on - off) * 1000:+.1f} ms")  # fmt: skip
    if args.baseline:
        mine = str(Path(sys.executable).with_name("handprop"))
        results = command_times({"baseline": args.baseline, "this checkout": mine}, args.rounds, args.copies, args.jobs)
        for name, (single, many) in results.items():
            print(f"{name}: grade reference.py {single:.2f} s; --batch of {args.copies} --jobs {args.jobs} {many:.2f} s")
        (b1, b2), (m1, m2) = results["baseline"], results["this checkout"]
        print(f"ratio this/baseline: single {m1 / b1:.2f}, batch {m2 / b2:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time, CPU time and peak memory of each command a newcomer runs first, warm and cold.

    python benchmarks/startup.py [--data-root ../shared/data] [--repeats 3] [--checkout DIR] [--only train,check]

Each command runs as its own process, as a user types it: ``handprop train --epochs 1`` (the video's
network, nothing saved), the same with ``--out`` (checkpoint and figures), ``evaluate`` and
``explain`` of that checkpoint, ``check`` (the engine against autograd) and the refusal of
``--backend torch --device cuda`` on a machine without a GPU. Peak memory is the child's own
maximum resident set (``os.wait4``), CPU time its user + system time: on a machine whose cores are
shared, CPU time moves far less than wall time, so both are printed.

cold: a fresh, empty ``NUMBA_CACHE_DIR`` and ``XDG_CACHE_HOME`` (and ``MPLCONFIGDIR``) for the one
run, as on the first run after installing (Numba compiles the training kernel; matplotlib builds its
font cache). warm: the best of ``--repeats`` runs after one that filled those caches.

``--checkout DIR`` runs the handprop of another checkout with this interpreter (``git worktree add
/tmp/before COMMIT``, then ``--checkout /tmp/before``), to put a before and an after side by side.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, add_data_root, data_root

COMMANDS = ("train", "train-out", "evaluate", "explain", "check", "cuda")
EXIT = {"cuda": 2}  # the refusal's status; every other command succeeds


def argv_of(name: str, run: Path, out: Path) -> list[str]:
    """The command ``name``: reading the run in ``run``, writing (a new run, a figure) under ``out``,
    a folder no earlier run used (handprop refuses to replace a run or a figure without --force)."""
    return {
        "train": ["train", "--epochs", "1", "--no-progress"],
        "train-out": ["train", "--epochs", "1", "--no-progress", "--out", str(out)],
        "evaluate": ["evaluate", str(run / "checkpoint.npz")],
        "explain": ["explain", "--checkpoint", str(run / "checkpoint.npz"), "--index", "0", "--out", str(out / "explain.png")],
        "check": ["check"],
        "cuda": ["train", "--backend", "torch", "--device", "cuda", "--no-progress"],
    }[name]


def measure(checkout: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float, float, int, str]:
    """(wall s, CPU s, peak RSS MB, exit status, last line of stderr) of one ``handprop ARGV`` process."""
    code = f"import sys; sys.path.insert(0, {str(checkout)!r}); from handprop.cli import main; sys.exit(main({argv!r}))"
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = child.stderr.read().decode(errors="replace") if child.stderr else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it; tell Popen
    lines = [line for line in err.splitlines() if line.strip()]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode, lines[-1] if lines else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root(p)
    p.add_argument("--repeats", type=int, default=3, help="warm runs per command, the best printed (default 3)")
    p.add_argument("--checkout", default=str(REPO), help="the checkout whose handprop runs (default: this one)")
    p.add_argument("--only", default=",".join(COMMANDS), help=f"comma-separated subset of {', '.join(COMMANDS)}")
    p.add_argument("--no-cold", action="store_true", help="warm runs only")
    args = p.parse_args()
    checkout = Path(args.checkout).resolve()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in COMMANDS]
    if unknown:
        p.error(f"unknown command(s) {', '.join(unknown)}; expected some of {', '.join(COMMANDS)}")
    base_env = {**os.environ, "HANDPROP_DATA": data_root(args.data_root), "PYTHONDONTWRITEBYTECODE": "1"}
    base_env.pop("NUMBA_CACHE_DIR", None)
    print(f"handprop of {checkout}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    print(f"{'command':<10} {'state':<5} {'wall s':>7} {'CPU s':>6} {'peak MB':>8}  exit  last line of stderr")
    failed: list[str] = []  # a command whose exit status is not the one expected: its figures mean nothing
    with tempfile.TemporaryDirectory(prefix="handprop-startup-") as tmp:
        run = Path(tmp) / "run"
        outs = (Path(tmp) / f"out-{i}" for i in itertools.count())  # a new folder for each process that writes
        # the checkpoint evaluate and explain read, made first (warm caches of this checkout)
        first = measure(checkout, argv_of("train-out", run, run), base_env)
        if first[3] != 0:
            raise SystemExit(f"the run that evaluate and explain read could not be made: {first[4]}")
        for name in names:
            rows = []
            if not args.no_cold:
                cold = Path(tmp) / f"cold-{name}"
                env = {**base_env, "NUMBA_CACHE_DIR": str(cold / "numba"), "XDG_CACHE_HOME": str(cold / "xdg"),
                       "MPLCONFIGDIR": str(cold / "mpl")}
                rows.append(("cold", measure(checkout, argv_of(name, run, next(outs)), env)))
                shutil.rmtree(cold, ignore_errors=True)
            measure(checkout, argv_of(name, run, next(outs)), base_env)  # fills the default caches
            warm = [measure(checkout, argv_of(name, run, next(outs)), base_env) for _ in range(args.repeats)]
            rows.append(("warm", min(warm)))
            for state, (wall, cpu, rss, code, last) in rows:
                print(f"{name:<10} {state:<5} {wall:7.2f} {cpu:6.2f} {rss:8.0f}  {code:>4}  {last[:90]}", flush=True)
                if code != EXIT.get(name, 0):
                    failed.append(f"{name} ({state}) exited {code}, expected {EXIT.get(name, 0)}: {last}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for line in failed:
        print(f"startup.py: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""``handprop train``: mini-batch SGD on MNIST (or Fashion-MNIST) with either backend, or both in lockstep."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    from handprop.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
    from handprop.costs import COSTS
    from handprop.data import DATASETS
    from handprop.init import INITS
    from handprop.backends import BACKENDS, ENGINES
    from handprop.training import TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="train a network on MNIST with SGD",
        description="Mini-batch SGD on MNIST with the hand-written engine, the PyTorch twin, or both in "
        "lockstep. The defaults train the video's 784-16-16-10 network.",
    )
    # hyperparameters default to None so that --resume can tell which ones were given
    p.add_argument("--backend", choices=BACKENDS, default=None, help="engine to train (default: handprop)")
    p.add_argument("--dataset", choices=list(DATASETS), default=None, help=f"default: {d.dataset}")
    p.add_argument("--data-root", default=None, help="folder holding MNIST/raw (default: $HANDPROP_DATA, else ~/.local/share/handprop)")
    p.add_argument("--arch", default=None, help=f"layer widths (default: {'-'.join(map(str, d.arch))})")
    p.add_argument(
        "--hidden", default=None,
        help=f"hidden activation, or one per hidden layer separated by commas; one of {', '.join(HIDDEN_ACTIVATIONS)} "
        f"(default: {d.hidden[0]})",
    )
    p.add_argument("--output", choices=OUTPUT_ACTIVATIONS, default=None, help=f"default: {d.output}")
    p.add_argument("--cost", choices=list(COSTS), default=None, help=f"default: {d.cost}")
    p.add_argument("--init", choices=INITS, default=None, help=f"default: {d.init}")
    p.add_argument("--epochs", type=int, default=None, help=f"total epochs, also when resuming (default: {d.epochs})")
    p.add_argument("--batch-size", type=int, default=None, help=f"default: {d.batch_size}")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate η (default: {d.lr})")
    p.add_argument("--l2", type=float, default=None, help=f"L2 strength λ; weights decay by (1 − ηλ/n) per step (default: {d.l2})")
    p.add_argument("--seed", type=int, default=None, help=f"seeds initialisation and shuffling (default: {d.seed})")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None, help=f"default: {d.dtype}")
    p.add_argument("--device", default="cpu", help="cpu or cuda, for the torch backend (default: cpu)")
    p.add_argument(
        "--engine", choices=ENGINES, default="compiled",
        help="how the handprop backend runs its steps: compiled (Numba; NumPy when Numba is missing) or numpy "
        "(the reference engine's steps); same results to round-off (default: compiled)",
    )
    p.add_argument(
        "--threads", type=int, default=None, metavar="N",
        help="CPU threads for the torch backend (default: 1 for networks up to 200,000 parameters); "
        "the compiled handprop engine always uses one",
    )
    p.add_argument("--out", default=None, help="folder for metrics.json, checkpoint.npz and plots")
    p.add_argument(
        "--resume", default=None, metavar="CHECKPOINT",
        help="continue the run saved in CHECKPOINT, a checkpoint.npz or the --out folder holding it (writes to its folder unless --out is given); "
        "--epochs, --lr, --l2 and --batch-size may change, the other settings stay the checkpoint's",
    )
    p.add_argument("--force", action="store_true",
                   help="let a new run replace the run already in --out (or --resume write into a folder holding another run)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)


HYPERPARAMETERS = ("dataset", "arch", "hidden", "output", "cost", "init", "batch_size", "lr", "l2", "seed", "dtype")


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields given on the command line (the others keep their defaults, or the checkpoint's)."""
    from handprop.training import parse_arch

    settings: dict[str, Any] = {}
    for name in HYPERPARAMETERS + ("epochs",):
        value = getattr(args, name)
        if value is not None:
            settings[name] = parse_arch(value) if name == "arch" else value
    return settings


def train_keywords(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``handprop.train`` for these parsed ``handprop train`` flags."""
    return dict(
        backend=args.backend, device=args.device, engine=args.engine, threads=args.threads,
        data_root=args.data_root, out=args.out, resume=args.resume,
        progress=False if args.no_progress else None, force=args.force, **_settings(args),
    )


def _header(run: Any) -> str:
    c = run.config
    return (
        f"training {'-'.join(map(str, c.arch))} ({','.join(c.hidden_per_layer) or '-'} → {c.output}, {c.cost}, "
        f"{c.init} init, {c.dtype}) on {c.dataset} with {run.backend}: {c.epochs} epoch{'s' if c.epochs != 1 else ''}, batch {c.batch_size}, "
        f"lr {c.lr:g}, l2 {c.l2:g}, seed {c.seed}"
        + (f"; resuming from epoch {run.start_epoch}" if run.start_epoch else "")
    )


def _epoch_line(run: Any) -> str:
    parts = []
    for name, history in run.history.items():
        m = history[-1]
        parts.append(f"{name}: train cost {m.train_cost:.5f}, test accuracy {100 * m.test_accuracy:.2f}%, {m.train_seconds:.2f} s")
    if run.lockstep:
        parts.append(f"lockstep max |Δθ| {run.lockstep[-1]['max_abs_param_diff']:.2e}")
    return f"epoch {run.epoch:>3}/{run.config.epochs}  " + "  |  ".join(parts)


def _interrupted(error: Any) -> str:
    """What Ctrl-C left behind, and the command that continues the run."""
    run = error.run
    if error.checkpoint is None:
        where = "nothing was saved (no --out)" if run.out is None else "no epoch had finished, so nothing was saved"
        return f"handprop train: interrupted during epoch {run.epoch + 1}; {where}"
    plots = f" (plots in {run.out})" if run.out is not None else ""
    return (
        f"handprop train: interrupted during epoch {run.epoch + 1}; {error.checkpoint} holds epoch {error.saved_epoch} "
        f"of {run.config.epochs}{plots}. Resume with: handprop train --resume {error.checkpoint}"
    )


def run(args: argparse.Namespace) -> int:
    from handprop.api import TrainingInterrupted, train
    from handprop.training import LockstepError, TrainingDiverged

    try:
        result = train(
            on_start=lambda r: print(_header(r), flush=True),
            on_epoch=lambda r: print(_epoch_line(r), flush=True),
            on_wait=lambda sentence: print(f"handprop train: {sentence}", file=sys.stderr, flush=True),
            **train_keywords(args),
        )
    except (TrainingDiverged, LockstepError) as error:
        print(f"handprop train: error: {error}", file=sys.stderr)
        return 1
    except TrainingInterrupted as interrupted:
        print(_interrupted(interrupted), file=sys.stderr)
        return 130
    if result.epoch == result.start_epoch:
        print(f"{args.resume} already has {result.epoch} epochs (--epochs {result.config.epochs}); nothing to train")
        return 0
    for name in result.history:
        final, best = result.final(name), result.best(name)
        print(
            f"{name}: final test accuracy {100 * final.test_accuracy:.2f}% "
            f"(best {100 * best.test_accuracy:.2f}% at epoch {best.epoch})"
        )
    if result.out is not None:
        print(f"wrote {result.out / 'metrics.json'}, {result.out / 'checkpoint.npz'} and plots to {result.out}")
    else:
        print("nothing saved: give --out FOLDER to keep the checkpoint, metrics.json and plots")
    return 0

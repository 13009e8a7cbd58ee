"""``handprop train``: mini-batch SGD on MNIST (or Fashion-MNIST) with either backend, or both in lockstep."""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Optional

from handprop.cli import CLIError



def register(subparsers: Any) -> None:
    from handprop.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
    from handprop.costs import COSTS
    from handprop.data import DATASETS
    from handprop.init import INITS
    from handprop.training import BACKENDS, TrainConfig

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
    p.add_argument("--data-root", default=None, help="folder holding MNIST/raw (default: $HANDPROP_DATA, else ./data)")
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
    p.add_argument("--out", default=None, help="folder for metrics.json, checkpoint.npz and plots")
    p.add_argument(
        "--resume", default=None, metavar="CHECKPOINT",
        help="continue the run saved in CHECKPOINT (writes to its folder unless --out is given)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)


HYPERPARAMETERS = ("dataset", "arch", "hidden", "output", "cost", "init", "batch_size", "lr", "l2", "seed", "dtype")


def _config_from_args(args: argparse.Namespace, base: Any) -> Any:
    """``base`` (a TrainConfig) with the flags that were given on the command line."""
    from handprop.training import TrainConfig, parse_arch

    changes: dict[str, Any] = {}
    for name in HYPERPARAMETERS + ("epochs",):
        value = getattr(args, name)
        if value is None:
            continue
        if name == "arch":
            value = parse_arch(value)
        elif name == "hidden":
            value = tuple(part.strip() for part in value.split(","))
        changes[name] = value
    return dataclasses.replace(base, **changes) if changes else base


def run(args: argparse.Namespace) -> int:
    from handprop.data import load_dataset
    from handprop.network import Network
    from handprop.plots import plot_curves, plot_first_layer
    from handprop.runstate import load_run, save_run
    from handprop.training import (
        Dataset, LockstepError, Trainer, TrainConfig, TrainingDiverged, backend_names, make_backend,
    )

    progress = False if args.no_progress else None
    if args.resume:
        state = load_run(args.resume)
        given = {n: getattr(args, n) for n in HYPERPARAMETERS if getattr(args, n) is not None}
        config = _config_from_args(args, state.config)
        changed = [f"--{n.replace('_', '-')}" for n in given if getattr(config, n) != getattr(state.config, n)]
        if changed:
            raise CLIError(f"{', '.join(changed)} differ from the checkpoint's settings; a resumed run keeps them (only --epochs may change)")
        backend = args.backend or state.backend
        if backend != state.backend:
            raise CLIError(f"the checkpoint was trained with --backend {state.backend}; resume it with the same backend")
        if config.epochs <= state.epoch:
            print(f"{args.resume} already has {state.epoch} epochs (--epochs {config.epochs}); nothing to train")
            return 0
    else:
        config = _config_from_args(args, TrainConfig())
        backend = args.backend or "handprop"
        state = None
    names = backend_names(backend)
    if args.device != "cpu" and "torch" not in names:
        raise CLIError(f"--device {args.device} is for the torch backend; the handprop backend runs on the CPU only")

    x_train, y_train = load_dataset(config.dataset, "train", args.data_root, download=True, dtype=config.dtype)
    x_test, y_test = load_dataset(config.dataset, "test", args.data_root, download=True, dtype=config.dtype)
    n_classes = int(y_train.max()) + 1
    if config.arch[0] != x_train.shape[1] or config.arch[-1] != n_classes:
        raise CLIError(
            f"--arch {'-'.join(map(str, config.arch))} does not fit {config.dataset}: the first width must be "
            f"{x_train.shape[1]} (pixels) and the last {n_classes} (classes)"
        )

    if state is None:
        initial = config.build_network()
        backends = {name: make_backend(name, initial, config, args.device if name == "torch" else "cpu") for name in names}
        _, shuffle_rng = config.generators()
        trainer = Trainer(config, backends, Dataset(x_train, y_train, x_test, y_test), shuffle_rng, progress=progress)
    else:
        backends = {}
        for name in names:
            weights, biases = state.parameters[name]
            net = Network.from_parameters(weights, biases, config.hidden_per_layer, config.output, config.cost, config.dtype)
            backends[name] = make_backend(name, net, config, args.device if name == "torch" else "cpu")
        trainer = Trainer(
            config, backends, Dataset(x_train, y_train, x_test, y_test), state.shuffle_rng,
            start_epoch=state.epoch, history=state.history, lockstep=state.lockstep, progress=progress,
        )

    # a resumed run keeps writing to its own folder unless told otherwise
    out = Path(args.out) if args.out else (Path(args.resume).parent if args.resume else None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    arch = "-".join(map(str, config.arch))
    print(
        f"training {arch} ({','.join(config.hidden_per_layer) or '-'} → {config.output}, {config.cost}, {config.init} init, "
        f"{config.dtype}) on {config.dataset} with {backend}: {config.epochs} epochs, batch {config.batch_size}, "
        f"lr {config.lr:g}, l2 {config.l2:g}, seed {config.seed}",
        flush=True,
    )

    def on_epoch(epoch: int, t: Trainer) -> None:
        parts = []
        for name in t.backends:
            m = t.history[name][-1]
            parts.append(
                f"{name}: train cost {m.train_cost:.5f}, test accuracy {100 * m.test_accuracy:.2f}%, {m.train_seconds:.2f} s"
            )
        if t.lockstep:
            parts.append(f"lockstep max |Δθ| {t.lockstep[-1]['max_abs_param_diff']:.2e}")
        print(f"epoch {epoch:>3}/{config.epochs}  " + "  |  ".join(parts), flush=True)
        if out is not None:
            save_run(out, t, backend)

    failure: Optional[Exception] = None
    try:
        trainer.run(on_epoch)
    except (TrainingDiverged, LockstepError) as error:
        failure = error
    if out is not None and trainer.start_epoch > 0:
        history = {name: [dataclasses.asdict(m) for m in trainer.history[name]] for name in trainer.backends}
        plot_curves(history, out / "curves.png")
        first = next(iter(trainer.backends.values()))
        if math.isqrt(config.arch[0]) ** 2 == config.arch[0]:
            plot_first_layer(first.parameters()[0][0], out / "first_layer.png")
    if failure is not None:
        print(f"handprop train: error: {failure}", file=sys.stderr)
        return 1
    for name in trainer.backends:
        final = trainer.history[name][-1]
        best = max(trainer.history[name], key=lambda m: m.test_accuracy)
        print(
            f"{name}: final test accuracy {100 * final.test_accuracy:.2f}% "
            f"(best {100 * best.test_accuracy:.2f}% at epoch {best.epoch})"
        )
    if out is not None:
        print(f"wrote {out / 'metrics.json'}, {out / 'checkpoint.npz'} and plots to {out}")
    return 0

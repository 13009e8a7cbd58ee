"""``handprop explain``: one example's nudges and sensitivities, as text and as a PNG figure."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..cli import CLIError

VIDEO_SIZES = (784, 16, 16, 10)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain",
        help="show the video's explanation of backprop for one example (text + PNG)",
        description="For one MNIST example: the outputs' desired changes, the last layer's ranked "
        "sensitivities, the three avenues for one output neuron, and how mini-batch gradients "
        "approximate the full training set's gradient. Every number comes from the engine's derivatives.",
    )
    p.add_argument("--checkpoint", type=Path, metavar="FILE",
                   help="a handprop checkpoint (.npz), or the --out folder of handprop train holding it; default: a fresh 784-16-16-10 sigmoid network from --seed")
    p.add_argument("--index", type=int, default=0, metavar="I", help="which example of the split (default 0)")
    p.add_argument("--split", choices=("train", "test"), default="train", help="where the example comes from")
    p.add_argument("--data-root", metavar="DIR", help="folder containing MNIST/raw (default: $HANDPROP_DATA, else ~/.local/share/handprop)")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default=None,
                   help="default: the dataset the checkpoint was trained on, else mnist")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh network and of the mini-batch draws")
    p.add_argument("--neuron", type=int, metavar="J", help="output neuron for the three avenues (default: the label)")
    p.add_argument("--top", type=int, default=5, metavar="K", help="ranked entries shown per list (default 5)")
    p.add_argument("--batch-size", type=int, default=10, help="mini-batch compared example by example (default 10)")
    p.add_argument("--trials", type=int, default=10, help="seeded mini-batches per size in the study (default 10)")
    p.add_argument("--no-study", action="store_true",
                   help="skip the full-training-set gradient and the mini-batch size study")
    p.add_argument("--out", default="explain.png", metavar="FIGURE.png",
                   help="where to write the figure: a .png, .pdf or .svg name, or a folder to hold explain.png "
                   "(default explain.png)")
    p.add_argument("--force", action="store_true", help="replace an existing figure at --out (or page at --html)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--html", type=Path, metavar="OUT.html",
                   help="instead of the text and figure, write one self-contained interactive page that computes "
                   "the forward pass and backprop in the browser (docs/explain.md)")
    p.set_defaults(run=run)


def _network(args: argparse.Namespace):
    """(network, source, dataset): the checkpoint's network and the dataset it was trained on (loaded
    before the data, so a bad file fails fast), or a fresh network."""
    from ..network import Network
    from ..runstate import load_network

    if args.checkpoint is None:
        net = Network(VIDEO_SIZES, hidden="sigmoid", output="sigmoid", cost="quadratic", seed=args.seed)
        return net, f"fresh network from --seed {args.seed}", args.dataset or "mnist"
    net, run = load_network(args.checkpoint)  # FileNotFoundError / ValueError: one line from main
    if net.num_layers < 2:
        raise CLIError(f"checkpoint {args.checkpoint} has no hidden layer; explain needs at least one")
    return net, f"checkpoint {args.checkpoint}", args.dataset or (run.config.dataset if run else "mnist")


def _check_fits(net, args: argparse.Namespace, n_inputs: int, n_classes: int) -> None:
    if net.sizes[0] != n_inputs:
        raise CLIError(
            f"checkpoint {args.checkpoint} has {net.sizes[0]} inputs but {args.dataset} images have {n_inputs} pixels"
        )
    if net.sizes[-1] != n_classes:
        raise CLIError(
            f"checkpoint {args.checkpoint} has {net.sizes[-1]} outputs but {args.dataset} has {n_classes} classes"
        )


def run(args: argparse.Namespace) -> int:
    if args.html is not None:
        from .explain_html import run_page

        return run_page(args, *_network(args))
    from ..data import CLASS_NAMES, N_CLASSES, load_dataset
    from ..explain import ExplainConfig, compare_with_batch, explain_example, minibatch_study
    from ..explain_figure import figure_path, save_figure
    from ..explain_text import format_explanation

    config = ExplainConfig(top=args.top, neuron=args.neuron, batch_size=args.batch_size,
                           trials=args.trials, seed=args.seed)
    from ..outputs import check_new_file

    out = figure_path(args.out)  # before the work: a bad name fails fast, and this is what gets written
    check_new_file(out, force=args.force, what="--out", inputs=[args.checkpoint], parent_must_exist=False)
    from ..atomic import check_writable

    try:
        check_writable(out, "file")  # before loading anything: "cannot write to /sys/x.png: permission denied"
    except ValueError as error:
        raise CLIError(str(error)) from None
    net, source, args.dataset = _network(args)
    names = CLASS_NAMES[args.dataset] if args.dataset != "mnist" else None  # digits name themselves
    X, labels = load_dataset(args.dataset, args.split, args.data_root, dtype=net.dtype.name)  # no float64 copy for a float32 net
    n = len(labels)
    if not 0 <= args.index < n:
        raise CLIError(f"--index {args.index} is out of range: the {args.dataset} {args.split} split has {n} examples (0 to {n - 1})")
    n_classes = N_CLASSES  # labels are checked to lie in 0–9 when loaded
    _check_fits(net, args, X.shape[1], n_classes)
    arch = "-".join(map(str, net.sizes))
    title = (f"{args.dataset.upper()} {args.split} #{args.index} — network {arch} "
             f"(hidden {','.join(sorted(set(net.hidden)))}, output {net.output}, cost {net.cost_name}), {source}")

    explanation = explain_example(net, X[args.index], int(labels[args.index]), neuron=config.neuron, top=config.top)

    # the example itself plus batch_size − 1 others of the same split, drawn by --seed
    rng = np.random.default_rng(config.seed)
    others = rng.choice(n - 1, size=min(config.batch_size, n) - 1, replace=False)
    others = others + (others >= args.index)  # skip the example itself
    batch = compare_with_batch(net, X, labels, np.concatenate([[args.index], others]), config.chunk_size)

    study = None
    if not args.no_study:
        X_train, y_train = (X, labels) if args.split == "train" else load_dataset(args.dataset, "train", args.data_root, dtype=net.dtype.name)
        sizes = tuple(s for s in config.sizes if s <= len(y_train))
        study = minibatch_study(net, X_train, y_train, sizes, config.trials, config.seed, progress=not args.no_progress)

    print(format_explanation(explanation, net, title, batch, study, class_names=names), end="")
    short = source  # the checkpoint's path as given: its folder names the run
    path = save_figure(explanation, out, title=f"{args.dataset.upper()} {args.split} #{args.index} — {short}",
                       class_names=names)
    print(f"\nfigure: {path}")
    return 0

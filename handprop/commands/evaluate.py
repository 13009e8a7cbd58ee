"""``handprop evaluate CHECKPOINT``: accuracy and confusion matrix of a saved network."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np


def register(subparsers: Any) -> None:
    from handprop.data import DATASETS

    p = subparsers.add_parser(
        "evaluate",
        help="accuracy and confusion matrix of a checkpoint",
        description="Accuracy and confusion matrix of a saved network on MNIST (or Fashion-MNIST).",
    )
    p.add_argument("checkpoint", help="a .npz written by handprop train (or save_checkpoint), or the --out folder holding it")
    p.add_argument("--dataset", choices=list(DATASETS), default=None, help="default: the one it was trained on, else mnist")
    p.add_argument("--data-root", default=None, help="folder holding MNIST/raw (default: $HANDPROP_DATA, else ~/.local/share/handprop)")
    p.add_argument("--split", choices=["test", "train"], default="test", help="default: test")
    p.set_defaults(run=run)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[i, j] = how many examples of true class i were predicted as class j, (classes, classes)."""
    return np.bincount(labels * n_classes + predictions, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def format_confusion(counts: np.ndarray) -> str:
    width = max(5, len(str(int(counts.max()))) + 1)
    header = "true\\pred" + "".join(f"{j:>{width}}" for j in range(counts.shape[1]))
    rows = [f"{i:>9}" + "".join(f"{int(c):>{width}}" for c in row) for i, row in enumerate(counts)]
    return "\n".join([header, *rows])


def run(args: argparse.Namespace) -> int:
    from handprop.cli import CLIError
    from handprop.data import load_dataset
    from handprop.runstate import load_network

    net, run = load_network(args.checkpoint)  # a training run's meta is checked too
    dataset = args.dataset or (run.config.dataset if run else "mnist")
    x, labels = load_dataset(dataset, args.split, args.data_root, download=True, dtype=net.dtype.name)
    n_classes = net.sizes[-1]
    if net.sizes[0] != x.shape[1] or labels.max() >= n_classes:
        raise CLIError(f"the network ({'-'.join(map(str, net.sizes))}) does not fit {dataset} ({x.shape[1]} pixels, 10 classes)")
    predictions = np.concatenate([net.predict(x[i : i + 10_000]) for i in range(0, x.shape[0], 10_000)])
    accuracy = float((predictions == labels).mean())
    epoch = f" after epoch {run.epoch}" if run else ""
    print(f"{args.checkpoint}{epoch}: {dataset} {args.split} accuracy {100 * accuracy:.2f}% ({int((predictions == labels).sum())}/{len(labels)})")
    print(format_confusion(confusion_matrix(labels, predictions, n_classes)))
    return 0

"""``handprop explain --html OUT.html``: the interactive page (``handprop.explain_html``), from the CLI."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..cli import CLIError

if TYPE_CHECKING:
    from ..network import Network


def run_page(args: argparse.Namespace, net: "Network", source: str, dataset: str) -> int:
    """Write the page for ``net``: the test split's first images, and the mini-batch study unless --no-study."""
    from ..data import CLASS_NAMES, N_CLASSES, load_dataset
    from ..explain import minibatch_study
    from ..explain_html import STUDY_SIZES, PageError, check_network, write_page

    where = f"checkpoint {args.checkpoint}" if args.checkpoint is not None else "the network"
    try:
        check_network(net)  # before loading any data: a checkpoint of other inputs fails in a second
    except PageError as error:
        raise CLIError(f"{where}: {error}") from None
    if net.sizes[-1] != N_CLASSES:
        raise CLIError(f"{where} has {net.sizes[-1]} outputs but {dataset} has {N_CLASSES} classes")
    from ..atomic import check_writable
    from ..outputs import check_new_file

    try:  # before the data and the study (a minute): never over an existing page without --force, nor an input
        check_new_file(args.html, force=args.force, what="--html", inputs=[args.checkpoint], parent_must_exist=False)
        check_writable(args.html, "file")
    except ValueError as error:
        raise CLIError(str(error)) from None
    X_test, y_test = load_dataset(dataset, "test", args.data_root)
    study = None
    if not args.no_study:
        X, y = load_dataset(dataset, "train", args.data_root)
        sizes = tuple(s for s in STUDY_SIZES if s < len(y)) + (len(y),)
        print(f"computing the gradient over all {len(y):,} training images and {args.trials} mini-batches of each of "
              f"{len(sizes)} sizes, for the page's batch-size slider…", file=sys.stderr, flush=True)
        study = minibatch_study(net, X, y, sizes, args.trials, args.seed, progress=not args.no_progress)
    names = CLASS_NAMES[dataset] if dataset != "mnist" else None
    start = args.index if args.split == "test" else 0
    title = f"{dataset.upper()} test images, {source}"
    try:
        path = write_page(args.html, net, X_test, y_test, study, title=title, class_names=names, start=start)
    except PageError as error:
        raise CLIError(str(error)) from None
    print(f"page: {path} ({path.stat().st_size / 1e6:.2f} MB; open it in a browser, no server needed)")
    return 0

"""One row of docs/training.md's accuracy table: train a network with several seeds, print final and best.

    python benchmarks/accuracy.py [--seeds 0,1,2] [--data-root ../shared/data] -- [handprop train flags]

e.g. ``python benchmarks/accuracy.py -- --arch 784-30-10`` or ``... -- --engine numpy``. Each seed is one
``handprop.train`` call with the flags given (the same as ``handprop train FLAGS --seed S``), one
thread for BLAS and torch. Prints each seed's final and best test accuracy (and the best's epoch),
then the row: mean ± sample standard deviation (ddof 1) of the final and the best accuracies.
"""

from __future__ import annotations

import argparse
import sys

from common import add_data_root, data_root, set_threads


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, flags = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    add_data_root(parser)
    args = parser.parse_args(own)
    set_threads(1)

    import numpy as np

    import handprop
    from handprop.cli import build_parser
    from handprop.commands.train import train_keywords

    root = data_root(args.data_root)
    finals, bests = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        command = ["train", *flags, "--seed", str(seed), "--data-root", root, "--no-progress"]
        run = handprop.train(**train_keywords(build_parser().parse_args(command)))
        final, best = run.final(), run.best()
        finals.append(100 * final.test_accuracy)
        bests.append(100 * best.test_accuracy)
        print(f"seed {seed}: final {finals[-1]:.2f}%, best {bests[-1]:.2f}% (epoch {best.epoch})", flush=True)
    print(f"{' '.join(['handprop train', *flags])}: final {np.mean(finals):.2f} ± {np.std(finals, ddof=1):.2f}%, "
          f"best {np.mean(bests):.2f} ± {np.std(bests, ddof=1):.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())

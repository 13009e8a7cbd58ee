"""One lockstep epoch of handprop and torch on the first 6,000 MNIST training images: how much of the
relative lockstep tolerance round-off uses (docs/training.md, "--backend both").

    python benchmarks/lockstep_tolerance.py float64 3 sigmoid sigmoid quadratic
    python benchmarks/lockstep_tolerance.py float64 1000 relu softmax cross_entropy

Arguments: dtype, lr, hidden activation, output activation, cost; --data-root as for handprop train.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("dtype", "lr", "hidden", "output", "cost"):
        parser.add_argument(name)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--examples", type=int, default=6000)
    args = parser.parse_args()

    import torch

    from handprop.data import load_dataset
    from handprop.backends import make_backend
    from handprop.training import Dataset, TrainConfig, Trainer, TrainingDiverged

    torch.set_num_threads(1)
    x, y = load_dataset("mnist", "train", args.data_root, dtype=args.dtype)
    xt, yt = load_dataset("mnist", "test", args.data_root, dtype=args.dtype)
    config = TrainConfig(epochs=1, lr=float(args.lr), dtype=args.dtype, hidden=(args.hidden,), output=args.output,
                         cost=args.cost)
    net = config.build_network()
    backends = {name: make_backend(name, net, config) for name in ("handprop", "torch")}
    trainer = Trainer(config, backends, Dataset(x[: args.examples], y[: args.examples], xt, yt),
                      config.generators()[1], progress=False)
    try:
        trainer.run()
    except TrainingDiverged as error:
        print(f"diverged: {error}")
    for entry in trainer.lockstep:
        print(entry)
    weights, _ = trainer.backends["handprop"].parameters()
    print("max |W| per layer:", [f"{float(np.abs(W).max()):.3g}" for W in weights])


if __name__ == "__main__":
    main()

"""How far the compiled and NumPy engines drift apart when they train independently on MNIST.

    python benchmarks/engine_drift.py [--steps 2500] [--every 250] [--batch-size 10] [--dtype float64] [--data-root DIR]

Both engines start from the video's network (784-16-16-10, sigmoid, quadratic, seed 0, lr 3) and step
on the same shuffled batches, the compiled one in windows of 50 batches as ``handprop train`` runs it,
the NumPy one a batch at a time. Every ``--every`` steps this prints the largest difference of any
parameter array relative to that array's largest entry. Their arithmetic differs only in the order of
sums (round-off); SGD at lr 3 then amplifies that difference step after step, until the trajectories
part (docs/training.md, "Speed").
"""

from __future__ import annotations

import argparse
import sys

from common import add_data_root, data_root, set_threads


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--every", type=int, default=250, help="steps between printed lines (a multiple of 50)")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    add_data_root(parser)
    args = parser.parse_args()
    if args.every % 50:
        parser.error("--every must be a multiple of 50 (the compiled engine's window)")
    set_threads(1)

    import numpy as np

    from handprop.data import load_dataset
    from handprop.backends import make_backend
    from handprop.training import TrainConfig

    root = data_root(args.data_root)
    x, labels = load_dataset("mnist", "train", root, download=False, dtype=args.dtype)
    y = np.eye(10, dtype=args.dtype)[labels]  # (n, 10) one-hot
    config = TrainConfig(batch_size=args.batch_size, dtype=args.dtype)
    _, rng = config.generators()
    order = rng.permutation(len(x))
    engines = {name: make_backend("handprop", config.build_network(), config, engine=name) for name in ("compiled", "numpy")}
    for backend in engines.values():
        backend.load_training_data(x, y)
        backend.begin_epoch(order)
    m, window = args.batch_size, 50 * args.batch_size
    for start in range(0, min(args.steps * m, len(x)), window):
        stop = min(start + window, len(x))
        engines["compiled"].steps(start, stop, m)
        for b in range(start, stop, m):
            engines["numpy"].step(b, min(b + m, stop))
        steps = stop // m
        if steps % args.every == 0:
            (wc, bc), (wn, bn) = engines["compiled"].parameters(), engines["numpy"].parameters()
            drift = max(float(np.abs(p - q).max() / np.abs(q).max()) for p, q in zip(wc + bc, wn + bn))
            print(f"after {steps:>5} steps: largest relative parameter difference {drift:.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

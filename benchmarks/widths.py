"""The compiled and NumPy engines on wider networks: seconds per epoch, side by side, in one run.

    python benchmarks/widths.py [--data-root ../shared/data]

For each network (sigmoid, quadratic, float32, one BLAS thread) both engines train on the first
``examples`` MNIST images from the same initial parameters, best of 2 passes, scaled to an epoch of
60,000. The compiled engine's steps run in windows of 50 batches, as ``handprop train`` runs them.
The NumPy engine's products are BLAS calls, which catch up as the layers widen (docs/training.md).
"""

from __future__ import annotations

import argparse
import sys
import time

from common import add_data_root, data_root, set_threads

NETWORKS = [  # (arch, batch size, examples timed)
    ((784, 16, 16, 10), 10, 20000),
    ((784, 30, 10), 10, 20000),
    ((784, 100, 10), 10, 20000),
    ((784, 128, 128, 10), 20, 8000),
    ((784, 256, 256, 10), 20, 4000),
    ((784, 512, 10), 20, 4000),
    ((784, 512, 512, 10), 20, 4000),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root(parser)
    args = parser.parse_args()
    set_threads(1)

    import numpy as np

    from handprop.data import load_dataset
    from handprop.backends import make_backend
    from handprop.training import TrainConfig

    root = data_root(args.data_root)
    x_all, labels = load_dataset("mnist", "train", root, download=False, dtype="float32")
    y_all = np.eye(10, dtype="float32")[labels]  # (n, 10) one-hot
    print("| network | batch | compiled (s/epoch) | numpy (s/epoch) | numpy / compiled |")
    print("|---|---|---|---|---|")
    for arch, m, n in NETWORKS:
        x, y = x_all[:n], y_all[:n]
        config = TrainConfig(arch=arch, batch_size=m, dtype="float32")
        seconds = {}
        for engine in ("compiled", "numpy"):
            backend = make_backend("handprop", config.build_network(), config, engine=engine)
            backend.load_training_data(x, y)
            backend.begin_epoch(np.arange(n))
            backend.step(0, m)  # compiles (or loads the cache) outside the timing
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                if engine == "compiled":
                    for start in range(0, n, 50 * m):
                        backend.steps(start, min(start + 50 * m, n), m)
                else:
                    for start in range(0, n, m):
                        backend.step(start, start + m)
                best = min(best, (time.perf_counter() - started) * 60000 / n)
            seconds[engine] = best
        print(f"| {'-'.join(map(str, arch))} | {m} | {seconds['compiled']:.2f} | {seconds['numpy']:.2f} | "
              f"{seconds['numpy'] / seconds['compiled']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Largest engine-vs-autograd relative error per dtype and cost, over a matrix of networks.

    python -m verify.measure

Every hidden activation × (output, cost) pair × batch sizes 1, 2, 37 × 3 seeds, on the tests'
5-7-3-4 network (N(0, 1) init) and on 784-16-16-10 with xavier and he init. Relative error as
defined in ``verify.compare``. Prints one line per (dtype, cost) with the worst case.
"""

from __future__ import annotations

import numpy as np

from handprop import Network
from handprop.activations import HIDDEN_ACTIVATIONS

from .compare import compare, random_batch

OUTPUT_COSTS = [
    ("sigmoid", "quadratic"),
    ("sigmoid", "cross_entropy"),
    ("softmax", "cross_entropy"),
    ("softmax", "quadratic"),
    ("identity", "quadratic"),
    ("tanh", "quadratic"),
    ("relu", "quadratic"),
]
NETWORKS = [([5, 7, 3, 4], "normal"), ([784, 16, 16, 10], "xavier"), ([784, 16, 16, 10], "he")]


def main() -> None:
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    cases = 0
    for sizes, init in NETWORKS:
        for dtype in ("float64", "float32"):
            for output, cost in OUTPUT_COSTS:
                for hidden in HIDDEN_ACTIVATIONS:
                    for n in (1, 2, 37):
                        for seed in range(3):
                            net = Network(sizes, hidden, output, cost, init, dtype, seed=10 * seed + n)
                            X, y = random_batch(net, n, np.random.default_rng(100 + n + seed))
                            report = compare(net, X, y)
                            row = max(report.rows, key=lambda r: r.max_rel_error)
                            where = f"{row.name} of {'-'.join(map(str, sizes))} {init} {hidden}/{output}, n={n}"
                            if row.max_rel_error > worst.get((dtype, cost), (-1.0, ""))[0]:
                                worst[(dtype, cost)] = (row.max_rel_error, where)
                            cases += 1
    print(f"{cases} comparisons")
    for (dtype, cost), (err, where) in sorted(worst.items()):
        print(f"{dtype:8s} {cost:14s} largest rel err {err:.2e}  ({where})")


if __name__ == "__main__":
    main()

"""Cost of the factored per-example norms and cosines, as a ratio to the batch gradient, in one run.

    python benchmarks/per_example.py [--data-root ../shared/data] [--examples 60000] [--repeats 3]

Times, on the MNIST training images and the video's 784-16-16-10 network (float64, one BLAS thread,
best of ``--repeats``): the batch gradient ∇C (``Network.backprop_prepared``), the factored
‖∇C_x‖ and ⟨∇C_x, ∇C⟩ for every example (``handprop.explain.factored_statistics``, one pass and, with
chunks of 10,000, two passes), and the materialised per-example gradients on a 2,000-example subset.
"""

from __future__ import annotations

import argparse
import sys
import time

from common import add_data_root, data_root, set_threads


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root(p)
    p.add_argument("--examples", type=int, default=60000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    set_threads(1)
    from handprop.data import load_dataset
    from handprop.explain import _materialised_statistics, factored_statistics
    from handprop.network import Network

    root = data_root(args.data_root)
    X, labels = load_dataset("mnist", "train", root, download=False, dtype="float64")
    net = Network([784, 16, 16, 10], seed=0)
    x, y = net.prepare(X[: args.examples], labels[: args.examples])
    n = x.shape[0]

    def best(f) -> float:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            f()
            times.append(time.perf_counter() - started)
        return min(times)

    batch = best(lambda: net.backprop_prepared(x, y))
    one_pass = best(lambda: factored_statistics(net, x, y, chunk_size=n))
    two_pass = best(lambda: factored_statistics(net, x, y, chunk_size=10_000))
    m = min(2000, n)
    formed = best(lambda: _materialised_statistics(net, x[:m], y[:m], chunk_size=1000)) * n / m
    print(f"{n} examples, 784-16-16-10, float64, 1 thread, best of {args.repeats}")
    print(f"  batch gradient ∇C                      {batch:.3f} s   1.00×")
    print(f"  factored, one pass                     {one_pass:.3f} s   {one_pass / batch:.2f}×")
    print(f"  factored, chunks of 10,000 (two pass)  {two_pass:.3f} s   {two_pass / batch:.2f}×")
    print(f"  materialised (from {m}, scaled)       {formed:.3f} s   {formed / batch:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

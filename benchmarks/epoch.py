"""Time one training epoch of the default network with each engine, side by side, in one run.

    python benchmarks/epoch.py [--data-root ../shared/data] [--threads 1] [--repeats 3] [--dtype float32]

Engines: handprop compiled (Numba, ``handprop.compiled``), handprop numpy (the reference engine's
steps), the torch backend on the CPU, and, when JAX is installed (``pip install -e ".[bench]"``),
JAX with the whole epoch in one ``jit``-compiled ``lax.scan``; torch on CUDA when a GPU is present.
Batch sizes 10 and 100. Every engine trains the same 784-16-16-10 network (sigmoid, quadratic cost,
N(0, 1) init, lr 3.0) from the same initial parameters on the same shuffled batches. The handprop and
torch engines run through the ``train_epoch`` loop that ``handprop train`` uses (finiteness check
every 50 batches included); JAX gets its batches gathered beforehand, as one (batches, m, 784) array,
which is not timed. Each time is the best of ``--repeats`` epochs, each from the initial parameters,
the engines taking turns (round robin) so that a change in the machine's load hits all of them;
compilation (Numba, XLA) happens in a warm-up epoch that is not timed.

The compute floor beside each batch size is the epoch's floating-point work (dense: forward product,
weight gradients, and the input gradients of layers 2…L, 2 FLOPs per multiply-add) divided by the
single-core rate of one large float matrix product measured at the start of the run; "sparse" counts
the first layer's products over the non-zero pixels only, which is what the compiled engine does.

Threads: NumPy's BLAS, torch and XLA get ``--threads`` threads (default 1: on a machine whose cores
are busy with other work, multi-threaded BLAS and OpenMP spin-wait and swing timings by 10×). The
counts must be fixed before NumPy and JAX are imported, so this script sets the environment first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from common import add_data_root, data_root, set_threads
from typing import Any, Callable


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_root(p)
    p.add_argument("--threads", type=int, default=1, help="threads for BLAS, torch and XLA (default: 1)")
    p.add_argument("--repeats", type=int, default=3, help="epochs timed per engine and batch size (best kept)")
    p.add_argument("--batch-sizes", default="10,100")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--engines", default="compiled,numpy,torch,jax", help="comma-separated subset to time")
    return p.parse_args()


def matmul_rate(np: Any, dtype: str, repeats: int = 5) -> float:
    """FLOP/s of one 512×512 by 512×512 product on this thread, best of ``repeats``."""
    rng = np.random.default_rng(0)
    a, b = rng.random((512, 512)).astype(dtype), rng.random((512, 512)).astype(dtype)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * 512**3 / best


def epoch_flops(sizes: tuple[int, ...], n: int, first_layer_inputs: float) -> float:
    """FLOPs of one SGD epoch: forward, weight gradients, input gradients of layers 2…L (2 per multiply-add)."""
    per_example = 0.0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        fan_in = first_layer_inputs if l == 0 else n_in
        per_example += 2 * fan_in * n_out * (2 if l == 0 else 3)
    return per_example * n


def jax_epoch(config: Any, x: Any, y: Any, order: Any, dtype: str) -> Callable[[Any], Any]:
    """A function params → params running one epoch as a jit-compiled ``lax.scan`` over the batches."""
    import jax
    import jax.numpy as jnp

    m, lr = config.batch_size, config.lr
    batches = len(order) // m
    xs = jnp.asarray(x[order[: batches * m]].reshape(batches, m, -1))  # (batches, m, 784)
    ys = jnp.asarray(y[order[: batches * m]].reshape(batches, m, -1))  # (batches, m, 10)

    def cost(params: Any, xb: Any, yb: Any) -> Any:
        a = xb
        for W, b in params:
            a = jax.nn.sigmoid(a @ W.T + b)
        return 0.5 * jnp.sum((a - yb) ** 2) / xb.shape[0]  # mean over the batch of ½‖a − y‖²

    def step(params: Any, batch: Any) -> Any:
        c, grads = jax.value_and_grad(cost)(params, *batch)
        return [(W - lr * gW, b - lr * gb) for (W, b), (gW, gb) in zip(params, grads)], c

    @jax.jit
    def epoch(params: Any) -> Any:
        params, costs = jax.lax.scan(step, params, (xs, ys))
        return params, costs.sum()

    def run(params: Any) -> Any:
        out = epoch(params)
        jax.block_until_ready(out)
        return out

    return run


def timed_epoch(engine: str, config: Any, initial: Any, x: Any, y: Any, order: Any, threads: int) -> Callable[[], float]:
    """A function that trains one epoch with ``engine`` from ``initial``'s parameters and returns its seconds."""
    from handprop.backends import make_backend
    from handprop.training import train_epoch

    if engine == "jax":
        import jax

        run = jax_epoch(config, x, y, order, config.dtype)
        params = [(jax.numpy.asarray(W), jax.numpy.asarray(b)) for W, b in zip(initial.weights, initial.biases)]

        def jax_once() -> float:
            started = time.perf_counter()
            run(params)
            return time.perf_counter() - started

        return jax_once
    if engine in ("compiled", "numpy"):
        backend = make_backend("handprop", initial, config, engine=engine)
    else:
        backend = make_backend("torch", initial, config, "cpu" if engine == "torch" else "cuda", threads=threads)
    backend.load_training_data(x, y)
    start = backend.snapshot()

    def once() -> float:
        backend.restore(start)
        return train_epoch(backend, order, config.batch_size, epoch=1, progress=False)

    return once


def main() -> int:
    args = parse_args()
    set_threads(args.threads)
    if args.threads == 1:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if args.dtype == "float64":
        os.environ["JAX_ENABLE_X64"] = "1"

    import numpy as np

    from handprop.data import load_dataset
    from handprop.training import TrainConfig

    engines = args.engines.split(",")
    try:
        import torch

        torch.set_num_threads(args.threads)
        has_cuda = torch.cuda.is_available()
    except ImportError:
        engines, has_cuda = [e for e in engines if e != "torch"], False
    try:
        import jax
    except ImportError:
        print("JAX is not installed (pip install -e '.[bench]'): its column is left out")
        engines = [e for e in engines if e != "jax"]
    root = data_root(args.data_root)
    x, labels = load_dataset("mnist", "train", root, download=False, dtype=args.dtype)
    y = np.eye(10, dtype=args.dtype)[labels]  # (n, 10) one-hot
    rate = matmul_rate(np, args.dtype)
    nonzero = float((x != 0).sum(axis=1).mean())
    versions = [f"numpy {np.__version__}"]
    if "compiled" in engines:
        import numba

        versions.append(f"numba {numba.__version__}")
    if "torch" in engines:
        versions.append(f"torch {torch.__version__}")
    if "jax" in engines:
        versions.append(f"jax {jax.__version__}")
    print(f"one epoch of 784-16-16-10 on {len(x)} MNIST images, {args.dtype}, {args.threads} thread(s), "
          f"best of {args.repeats}; {', '.join(versions)}")
    print(f"single-core matmul rate {rate / 1e9:.1f} GFLOP/s; {nonzero:.0f} of 784 pixels non-zero on average")

    labels_of = {"compiled": "handprop compiled", "numpy": "handprop numpy", "torch": "torch CPU", "jax": "JAX jit+scan"}
    rows: list[tuple[int, dict[str, float], float, float]] = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        config = TrainConfig(batch_size=batch_size, dtype=args.dtype, epochs=1)
        initial = config.build_network()
        _, rng = config.generators()
        order = rng.permutation(len(x))  # the same batches for every engine
        times: dict[str, float] = {}
        epochs: dict[str, Callable[[], float]] = {}
        for engine in engines + (["cuda"] if has_cuda else []):
            epochs[engine] = timed_epoch(engine, config, initial, x, y, order, args.threads)
            epochs[engine]()  # warm-up, not timed: compiles (Numba, XLA) or loads the cache
        all_times: dict[str, list[float]] = {engine: [] for engine in epochs}
        for _ in range(args.repeats):  # round robin, so that a change in the machine's load hits every engine
            for engine, epoch in epochs.items():
                all_times[engine].append(epoch())
        for engine, ts in all_times.items():
            times[engine] = min(ts)
            print(f"  batch {batch_size:>4}  {labels_of.get(engine, 'torch CUDA'):<18} {min(ts):8.3f} s   "
                  f"(all: {', '.join(f'{t:.3f}' for t in ts)})", flush=True)
        dense = epoch_flops((784, 16, 16, 10), len(x), 784) / rate
        sparse = epoch_flops((784, 16, 16, 10), len(x), nonzero) / rate
        rows.append((batch_size, times, dense, sparse))

    names = [e for e in engines] + (["cuda"] if has_cuda else [])
    print()
    print("| batch | " + " | ".join(labels_of.get(e, "torch CUDA") for e in names) + " | compute floor (dense / sparse) |")
    print("|---" * (len(names) + 2) + "|")
    for batch_size, times, dense, sparse in rows:
        print(f"| {batch_size} | " + " | ".join(f"{times[e]:.3f} s" for e in names) + f" | {dense:.3f} s / {sparse:.3f} s |")
    if "compiled" in names:
        print()
        for batch_size, times, dense, sparse in rows:
            ratios = ", ".join(f"{labels_of.get(e, 'torch CUDA')} {times[e] / times['compiled']:.2f}×"
                               for e in names if e != "compiled")
            print(f"batch {batch_size}: time / handprop compiled: {ratios}; floor (sparse) / compiled "
                  f"{sparse / times['compiled']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time one training epoch of the default network with each backend, side by side, in one run.

    python benchmarks/epoch.py [--data-root ../shared/data] [--threads N] [--repeats 3]

Backends: handprop (NumPy), torch on the CPU, and torch on CUDA when a GPU is present; batch sizes
10 and 100; float32 (``--dtype`` to change). Every backend trains the same 784-16-16-10 network
(sigmoid, quadratic cost, N(0, 1) init, lr 3.0) from the same initial parameters on the same
shuffled batches, through the same ``train_epoch`` loop that ``handprop train`` uses (finiteness
check every 50 batches included). Each time is the best of ``--repeats`` epochs, each starting again
from the initial parameters; evaluation is not timed.

torch-cpu is the torch backend as ``handprop train`` runs it: it flushes subnormal floats to zero
during its steps (see verify/backend.py), which roughly halves its time once sigmoids saturate.
torch-cpu-ieee is the same backend with IEEE subnormals kept (plain torch eager), for reference.

Threads: NumPy's BLAS and torch get the same number of threads (``--threads``, default 1: on a
machine whose cores are busy with other work, multi-threaded BLAS and OpenMP spin-wait and swing
the timings by 10×; ``--threads 2`` measures the two-core case on a quiet machine). The BLAS count must be fixed before NumPy is imported, so this script sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS first and calls torch.set_num_threads.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None, help="MNIST root (default: $HANDPROP_DATA, else ../shared/data)")
    p.add_argument("--threads", type=int, default=1, help="threads for NumPy's BLAS and torch (default: 1)")
    p.add_argument("--repeats", type=int, default=3, help="epochs timed per backend and batch size (best kept)")
    p.add_argument("--batch-sizes", default="10,100")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    return p.parse_args()


def main() -> int:
    args = parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import numpy as np
    import torch

    from handprop.data import load_dataset
    from handprop.training import TrainConfig, make_backend, train_epoch

    torch.set_num_threads(args.threads)
    root = args.data_root or os.environ.get("HANDPROP_DATA") or str(Path(__file__).resolve().parents[2] / "shared" / "data")
    x, labels = load_dataset("mnist", "train", root, download=False, dtype=args.dtype)
    y = np.eye(10, dtype=args.dtype)[labels]  # (n, 10) one-hot
    devices = [("handprop", "cpu"), ("torch", "cpu"), ("torch", "cpu-ieee")]
    if torch.cuda.is_available():
        devices.append(("torch", "cuda"))

    print(f"one epoch of 784-16-16-10 on {len(x)} MNIST images, {args.dtype}, {args.threads} thread(s), "
          f"best of {args.repeats}; torch {torch.__version__}, numpy {np.__version__}")
    if torch.cuda.is_available():
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    results: dict[tuple[str, int], float] = {}
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        config = TrainConfig(batch_size=batch_size, dtype=args.dtype, epochs=1)
        initial = config.build_network()
        _, rng = config.generators()
        order = rng.permutation(len(x))  # the same batches for every backend
        for name, device in devices:
            label = name if name == "handprop" else f"torch-{device}"
            if device == "cpu-ieee":
                from verify.backend import TorchBackend

                backend = TorchBackend(initial, config.lr, config.l2, "cpu", flush_denormal=False)
            else:
                backend = make_backend(name, initial, config, device)
            backend.load_training_data(x, y)
            start = backend.snapshot()
            times = []
            for _ in range(args.repeats):
                backend.restore(start)
                times.append(train_epoch(backend, order, batch_size, epoch=1, progress=False))
            results[(label, batch_size)] = min(times)
            print(f"  batch {batch_size:>4}  {label:<11} {min(times):8.3f} s   (all: {', '.join(f'{t:.3f}' for t in times)})",
                  flush=True)
        base = results[("handprop", batch_size)]
        for label, b in list(results):
            if b == batch_size and label != "handprop":
                print(f"  batch {batch_size:>4}  {label} / handprop = {results[(label, b)] / base:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``handprop check``: hand-written gradients vs torch autograd vs finite differences, as a table.

Builds a network from the flags, draws a batch (uniform pixels in [0, 1) and random labels from
``--seed``, or the first MNIST test images with ``--data-root``), compares every tensor of the
engine with the autograd twin (``verify.compare``) and runs ``torch.autograd.gradcheck`` on the
engine in float64 (``verify.gradcheck``). Exit 0 when everything agrees, 1 when something does not,
2 for bad flags.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..cli import CLIError

# full gradcheck differences every entry (~0.3 ms each); above this many entries "auto" uses
# gradcheck's fast (projected) mode, which checks random directions through all of them at once
FULL_GRADCHECK_MAX_ENTRIES = 5000
GRADCHECK_MODES = ("auto", "full", "fast", "off")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="compare hand-written gradients with torch autograd and finite differences",
        description=(
            "Build a network, run the hand-written backprop and the PyTorch autograd twin on the same "
            "batch, and print the error of every tensor (cost, dC/dW, dC/db, dC/dz, dC/da). Exit 0 when "
            "all agree within the dtype's tolerance and gradcheck passes, 1 otherwise."
        ),
    )
    p.add_argument("--arch", default="784-16-16-10", help="layer sizes, input first (default: %(default)s)")
    p.add_argument("--hidden", default="sigmoid", help="hidden activation, or one per hidden layer separated by commas (sigmoid, tanh, relu, identity; default: %(default)s)")
    p.add_argument("--output", default="sigmoid", help="output activation (sigmoid, tanh, relu, identity, softmax; default: %(default)s)")
    p.add_argument("--cost", default="quadratic", help="quadratic or cross_entropy (default: %(default)s)")
    p.add_argument("--init", default="normal", help="normal, xavier or he (default: %(default)s)")
    p.add_argument("--dtype", default="float64", help="float32 or float64 (default: %(default)s)")
    p.add_argument("--batch-size", default="10", help="examples in the batch (default: %(default)s)")
    p.add_argument("--seed", default="0", help="seed for the weights and the random batch (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device for the twin (default: %(default)s)")
    p.add_argument("--tolerance", default=None, help="relative-error tolerance (default: 1e-10 for float64, 1e-4 for float32)")
    p.add_argument(
        "--gradcheck",
        default="auto",
        help=f"finite differences in float64: full (every entry), fast (projected), auto = full up to {FULL_GRADCHECK_MAX_ENTRIES} entries (default: %(default)s)",
    )
    p.add_argument("--data-root", default=None, help="use the first MNIST test images from this root instead of random inputs")
    p.set_defaults(run=run)


def parse_arch(text: str) -> list[int]:
    """'784-16-16-10' → [784, 16, 16, 10]."""
    try:
        sizes = [int(part) for part in text.split("-")]
    except ValueError:
        raise CLIError(f"--arch must be layer sizes joined by '-', such as 784-16-16-10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CLIError(f"--arch needs at least two positive layer sizes, such as 784-16-16-10, got {text!r}")
    return sizes


def _number(flag: str, text: str, kind: type, ok: Any, expected: str) -> Any:
    """Parse a numeric flag here rather than in argparse, so a bad value is one line (exit 2)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise CLIError(f"{flag} must be {expected}, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from handprop import Network

    sizes = parse_arch(args.arch)
    args.batch_size = _number("--batch-size", args.batch_size, int, lambda v: v >= 1, "a positive integer")
    args.seed = _number("--seed", args.seed, int, lambda v: v >= 0, "a non-negative integer")
    if args.tolerance is not None:
        args.tolerance = _number("--tolerance", args.tolerance, float, lambda v: 0 < v < float("inf"), "a positive number")
    if args.gradcheck not in GRADCHECK_MODES:
        raise CLIError(f"--gradcheck must be one of {', '.join(GRADCHECK_MODES)}, got {args.gradcheck!r}")
    hidden = args.hidden.split(",") if "," in args.hidden else args.hidden
    rng = np.random.default_rng(args.seed)
    net = Network(sizes, hidden=hidden, output=args.output, cost=args.cost, init=args.init, dtype=args.dtype, seed=rng)

    if args.data_root is not None:
        from handprop.data import load_dataset

        if sizes[0] != 784 or sizes[-1] != 10:
            raise CLIError(f"--data-root gives MNIST (784 inputs, 10 classes); --arch {args.arch} does not fit")
        images, labels = load_dataset("mnist", "test", args.data_root, download=False, dtype=args.dtype)
        X, y = images[: args.batch_size], labels[: args.batch_size]
        source = f"the first {len(X)} MNIST test images"
    else:
        from verify.compare import random_batch

        X, y = random_batch(net, args.batch_size, rng)
        source = f"random inputs in [0, 1), seed {args.seed}"

    import torch

    from verify.compare import compare, saturation_margin
    from verify.gradcheck import engine_gradcheck

    try:
        device = torch.device(args.device)
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as error:
        raise CLIError(f"--device {args.device!r} is not available: {str(error).splitlines()[0]}") from None

    report = compare(net, X, y, device=device, tolerance=args.tolerance)
    print(f"handprop check: {net}, init {args.init}, batch of {report.batch_size} ({source})")
    print(f"engine (NumPy, hand-written) vs twin (torch {torch.__version__} autograd, {device});")
    print("rel err = max|engine - autograd| / max size of the terms summed into an entry (docs/engine.md)")
    print()
    print(report.table())
    print()
    margin = saturation_margin(net, X)
    if not report.passed and margin < 1e-4:
        print(
            f"note: a sigmoid/tanh/softmax unit is within 1-|a| = {margin:.1e} of saturation; there the "
            f"gradient is ill-conditioned and two correct implementations differ by up to ~eps/(1-|a|)"
        )

    grad_ok = True
    if args.gradcheck != "off":
        entries = X.size + sum(w.size + b.size for w, b in zip(net.weights, net.biases))
        fast = args.gradcheck == "fast" or (args.gradcheck == "auto" and entries > FULL_GRADCHECK_MAX_ENTRIES)
        result = engine_gradcheck(net, X, y, fast_mode=fast)
        grad_ok = result.passed
        mode = "fast (projected)" if fast else "full (every entry)"
        print(
            f"finite differences: torch.autograd.gradcheck on the engine, float64, {result.entries} entries, "
            f"{mode}: {'ok' if result.passed else 'FAIL'} - {result.message} [{result.seconds:.1f} s]"
        )
    else:
        print("finite differences: skipped (--gradcheck off)")

    failures = report.failures
    if failures or not grad_ok:
        names = ", ".join(row.name for row in failures) or "none"
        print(f"MISMATCH: tensors out of tolerance: {names}; gradcheck: {'ok' if grad_ok else 'FAIL'}")
        sys.stdout.flush()
        return 1
    print(f"all {len(report.rows)} tensors agree (largest rel err {report.max_rel_error:.2e}, tolerance {report.tolerance:.0e})")
    return 0

"""``handprop check``: hand-written gradients vs torch autograd vs finite differences, as a table.

``handprop check FILE.py|FILE.ipynb`` checks a learner's own implementation of an assignment instead
(``handprop.learner``): the file runs in the grading sandbox, every returned tensor is compared with
the reference, and failing cases are diagnosed; exit 0 when all match, 1 otherwise, 2 when the file
is missing, cannot be imported or defines none of the assignment's functions.

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
# flags of the engine check (no FILE) and their defaults; a FILE is checked on the assignment's own cases
ENGINE_DEFAULTS = {
    "arch": "784-16-16-10", "hidden": "sigmoid", "output": "sigmoid", "cost": "quadratic", "init": "normal",
    "dtype": "float64", "batch_size": "10", "device": "cpu", "gradcheck": "auto", "data_root": None,
}  # fmt: skip


# the FILE-only flags' defaults, applied in run_file (None on the command line means "not given")
FILE_DEFAULTS = {"assignment": "network", "cases": "5", "timeout": "10"}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="compare hand-written gradients with autograd and finite differences, or check your own backprop file",
        description=(
            "Without FILE: build a network, run the hand-written backprop and the PyTorch autograd twin on the same "
            "batch, and print the error of every tensor (cost, dC/dW, dC/db, dC/dz, dC/da). Exit 0 when "
            "all agree within the dtype's tolerance and gradcheck passes, 1 otherwise. "
            "With FILE (.py or .ipynb implementing an assignment's functions, as from `handprop grade --template`): "
            "run it in the grading sandbox and print, for every case, each returned tensor's error against the "
            "reference and the diagnosis of what is wrong. Exit 0 when everything matches, 1 otherwise, 2 when "
            "the file is missing, cannot be imported or defines none of the assignment's functions."
        ),
    )
    p.add_argument("file", nargs="?", help="your implementation (.py or .ipynb) to check instead of the engine")
    p.add_argument("--assignment", help="FILE: the assignment it implements: network (default), chain-rule or layers")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="FILE: an option of the assignment (repeatable), e.g. hidden=relu, output=softmax, cost=cross_entropy")
    p.add_argument("--function", action="append", default=[], metavar="NAME",
                   help="FILE: check only this function (repeatable; default: every function of the assignment the file defines)")
    p.add_argument("--cases", help=f"FILE: cases per function (default: {FILE_DEFAULTS['cases']})")
    p.add_argument("--save-failing", default=None, metavar="DIR",
                   help="FILE: write each failing case (inputs, expected and your outputs, .npz) and a snippet that reruns it to DIR")
    p.add_argument("--force", action="store_true", help="FILE: --save-failing may replace the cases an earlier --save-failing saved in DIR")
    p.add_argument("--timeout", help=f"FILE: seconds per function in the sandbox (default: {FILE_DEFAULTS['timeout']})")
    p.add_argument("--arch", default=ENGINE_DEFAULTS["arch"], help="layer sizes, input first (default: %(default)s)")
    p.add_argument("--hidden", default=ENGINE_DEFAULTS["hidden"], help="hidden activation, or one per hidden layer separated by commas (sigmoid, tanh, relu, identity; default: %(default)s)")
    p.add_argument("--output", default=ENGINE_DEFAULTS["output"], help="output activation (sigmoid, tanh, relu, identity, softmax; default: %(default)s)")
    p.add_argument("--cost", default=ENGINE_DEFAULTS["cost"], help="quadratic or cross_entropy (default: %(default)s)")
    p.add_argument("--init", default=ENGINE_DEFAULTS["init"], help="normal, xavier or he (default: %(default)s)")
    p.add_argument("--dtype", default=ENGINE_DEFAULTS["dtype"], help="float32 or float64 (default: %(default)s)")
    p.add_argument("--batch-size", default=ENGINE_DEFAULTS["batch_size"], help="examples in the batch (default: %(default)s)")
    p.add_argument("--seed", default="0", help="seed for the weights and the random batch (default: %(default)s)")
    p.add_argument("--device", default=ENGINE_DEFAULTS["device"], help="torch device for the twin (default: %(default)s)")
    p.add_argument("--tolerance", default=None, help="relative-error tolerance (default: 1e-10 for float64, 1e-4 for float32; with FILE 1e-5)")
    p.add_argument(
        "--gradcheck",
        default=ENGINE_DEFAULTS["gradcheck"],
        help=f"finite differences in float64: full (every entry), fast (projected), auto = full up to {FULL_GRADCHECK_MAX_ENTRIES} entries (default: %(default)s)",
    )
    p.add_argument("--data-root", default=None, help="use the first MNIST test images from this root instead of random inputs")
    p.set_defaults(run=run)


def _number(flag: str, text: str, kind: type, ok: Any, expected: str) -> Any:
    """Parse a numeric flag here rather than in argparse, so a bad value is one line (exit 2)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise CLIError(f"{flag} must be {expected}, got {text!r}")
    return value


def _setting(flag: str, text: str, kind: type, check: Any) -> Any:
    """Parse a flag's text, then check it with the setting's one validation (``handprop.settings``)."""
    try:
        value = kind(text)
    except ValueError:
        value = text  # the check says what was expected
    try:
        return check(value, flag)
    except ValueError as error:
        raise CLIError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    if args.file is not None:
        return run_file(args)
    for flag, given in (("--save-failing", args.save_failing), ("--function", args.function), ("--option", args.option),
                        ("--assignment", args.assignment), ("--cases", args.cases), ("--timeout", args.timeout),
                        ("--force", args.force or None)):
        if given not in (None, []):
            raise CLIError(f"{flag} is for checking a FILE of your own: handprop check FILE {flag} …")
    return run_engine(args)


def run_file(args: argparse.Namespace) -> int:
    """``handprop check FILE``: the learner's file against the reference, case by case."""
    for name, default in ENGINE_DEFAULTS.items():  # silently ignored, they would check something else than asked
        if getattr(args, name) != default:
            flag = "--" + name.replace("_", "-")
            hint = (
                f"for your file's variant use --option {name}={getattr(args, name)}" if name in ("hidden", "output", "cost")
                else "a FILE is checked on the assignment's own cases (--cases, --seed)"
            )
            raise CLIError(f"{flag} is for checking handprop's engine (without FILE); {hint}")
    from handprop.grading.config import SandboxLimits
    from handprop.grading.sandbox import SandboxError
    from handprop.learner import DEFAULT_RTOL, check_file

    from handprop import settings

    cases = _setting("--cases", args.cases or FILE_DEFAULTS["cases"], int, settings.cases)
    seed = _setting("--seed", args.seed, int, settings.seed)
    timeout = _setting("--timeout", args.timeout or FILE_DEFAULTS["timeout"], float, settings.timeout)
    rtol = DEFAULT_RTOL
    if args.tolerance is not None:
        rtol = _setting("--tolerance", args.tolerance, float, settings.rtol)
    if args.save_failing is not None:  # before the check runs: an empty name, or a folder holding other files
        from handprop.outputs import check_new_folder

        check_new_folder(args.save_failing, force=args.force, what="--save-failing", inputs=[args.file],
                         hint="pass --force to replace the cases an earlier --save-failing saved there")
    options = {}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"--option expects KEY=VALUE, got {item!r}")
        options[key] = value
    try:
        report = check_file(
            args.file, assignment=args.assignment or FILE_DEFAULTS["assignment"], options=options, functions=args.function or None, cases=cases,
            seed=seed, rtol=rtol, limits=SandboxLimits(timeout=timeout),
        )
    except SandboxError as error:
        raise CLIError(f"the sandbox could not run: {error}") from None
    print(report)
    if args.save_failing is not None and not report.ok:
        paths = report.save_failing(args.save_failing, overwrite=args.force)
        snippet = paths[0].with_suffix(".py")
        how = (
            f"rerun one with: python {snippet}" if report.source_file is not None  # the snippet imports the .py itself
            else f"rerun one by pasting {snippet} into your notebook, after the cell that defines the function"
        )
        print(f"\nsaved {len(paths)} failing case(s) to {args.save_failing}; {how}")
    sys.stdout.flush()
    return 0 if report.ok else 1


def run_engine(args: argparse.Namespace) -> int:
    import numpy as np

    from handprop import Network
    from handprop.training import parse_arch  # the same widths rule as `handprop train --arch`

    sizes = list(parse_arch(args.arch))
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

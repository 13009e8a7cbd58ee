"""``handprop grade``: grade students' backprop implementations against the reference.

    handprop grade --template [FILE]             write the starter file for students
    handprop grade SUBMISSION.py [--format text|json|gradescope] [--output FILE]
    handprop grade --batch FOLDER [--output grades.csv]
    handprop grade --bundle FOLDER               write Gradescope's setup.sh, run_autograder, zip

Exit 0 whenever grading completed, whatever the score; 2 when the grader itself could not run.
"""

from __future__ import annotations

import argparse
import sys

from ..cli import CLIError
from ..grading.config import DEFAULT_POINTS, FUNCTIONS, SANDBOX_MODES, VISIBILITIES, GradingConfig, SandboxLimits, default_sandbox_uid


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grade",
        help="grade a student's backprop implementation (or write the template, a batch CSV, a Gradescope bundle)",
        description="Grade a student's Python file against handprop's reference, in a sandboxed process.",
    )
    p.add_argument("submission", nargs="?", help="the student's .py file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--template", nargs="?", const="backprop_assignment.py", metavar="FILE",
                      help="write the starter file for students (default name backprop_assignment.py; '-' for stdout)")
    mode.add_argument("--batch", metavar="FOLDER", help="grade every .py file in FOLDER into one CSV (see --output)")
    mode.add_argument("--bundle", metavar="FOLDER", help="write the Gradescope autograder bundle into FOLDER")
    p.add_argument("--format", choices=("text", "json", "gradescope"), default="text", help="report format (default text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report (or the batch CSV, default grades.csv) to FILE, atomically")
    p.add_argument("--all", action="store_true", help="text format: show passed cases too")
    p.add_argument("--force", action="store_true", help="--template: replace an existing file")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomized cases (default 0)")
    p.add_argument("--cases", type=int, default=5, help="cases per function (default 5)")
    p.add_argument("--hidden", type=int, default=0, help="how many of each function's cases are hidden on Gradescope (default 0)")
    p.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                   help="Gradescope visibility of hidden cases (default after_published)")
    p.add_argument("--rtol", type=float, default=1e-5, help="relative tolerance on each array's scale (default 1e-5; float32 work passes)")
    p.add_argument("--points", action="append", default=[], metavar="FUNCTION=P",
                   help=f"points for a function (repeatable; defaults {', '.join(f'{k}={v:g}' for k, v in DEFAULT_POINTS.items())})")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per function, wall clock (default 10)")
    p.add_argument("--memory-mb", type=int, default=1024, help="address-space limit of the sandbox in MiB (default 1024)")
    p.add_argument("--max-processes", type=int, default=8, help="process limit of the sandbox user (default 8)")
    p.add_argument("--sandbox-uid", type=int, default=None,
                   help="user id that runs submissions (default: 65534 'nobody' when run as root, else your own)")
    p.add_argument("--sandbox", choices=SANDBOX_MODES, default="auto",
                   help="how submissions are isolated: bwrap (namespaces), uid (root: a separate user), none "
                        "(trusted code only; warns); auto picks the strongest available (default)")
    p.add_argument("--no-progress", action="store_true", help="--batch: no progress bar")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> GradingConfig:
    points = dict(DEFAULT_POINTS)
    for item in args.points:
        name, sep, value = item.partition("=")
        if not sep or name not in FUNCTIONS:
            raise CLIError(f"--points expects FUNCTION=P with FUNCTION one of {', '.join(FUNCTIONS)}, got {item!r}")
        try:
            points[name] = float(value)
        except ValueError:
            raise CLIError(f"--points {item!r}: {value!r} is not a number") from None
    uid = args.sandbox_uid if args.sandbox_uid is not None else default_sandbox_uid()
    sandbox = SandboxLimits(timeout=args.timeout, memory_mb=args.memory_mb, max_processes=args.max_processes, uid=uid)
    return GradingConfig(
        seed=args.seed, cases=args.cases, hidden=args.hidden, hidden_visibility=args.hidden_visibility,
        rtol=args.rtol, points=points, sandbox=sandbox, sandbox_mode=args.sandbox,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..grading.sandbox import SandboxError

    modes = [m for m in ("template", "batch", "bundle") if getattr(args, m) is not None]
    if modes and args.submission:
        raise CLIError(f"give either a submission file or --{modes[0]}, not both")
    if not modes and not args.submission:
        raise CLIError("nothing to grade: give a submission .py file, or --template, --batch or --bundle")
    if args.template is not None:
        return _template(args)
    if "grade" in sys.argv[1:3]:  # the real command line (handprop [-v] grade …), not a test calling main()
        from ..grading.sandbox.processes import hide_command_line

        hide_command_line(keep=2)  # the seed, --hidden and paths are not readable from /proc
    config = config_from_args(args)
    try:
        if args.bundle is not None:
            return _bundle(args, config)
        if args.batch is not None:
            return _batch(args, config)
        return _single(args, config)
    except SandboxError as error:
        raise CLIError(f"the grader could not run: {error}") from None


def _template(args: argparse.Namespace) -> int:
    from ..grading.template import TEMPLATE, write_template

    if args.template == "-":
        sys.stdout.write(TEMPLATE)
        return 0
    path = write_template(args.template, overwrite=args.force)
    print(f"wrote the starter file {path}", file=sys.stderr)
    return 0


def _single(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.grader import grade_file
    from ..grading.report import render, write_atomic

    report = grade_file(args.submission, config)
    text = render(report, args.format, verbose=args.all)
    if args.output:
        write_atomic(args.output, text)
        print(f"{report.submission}: {report.score:g} / {report.max_score:g}; wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _batch(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.batch import grade_folder_to_csv

    output = args.output or "grades.csv"
    progress = False if args.no_progress else None
    results = grade_folder_to_csv(args.batch, output, config, progress=progress)
    failed = [error for _, report, error in results if report is None]
    print(f"graded {len(results) - len(failed)} of {len(results)} files; wrote {output}", file=sys.stderr)
    if failed and len(failed) == len(results) and all(e.startswith("the grader could not run") for e in failed):
        raise CLIError(failed[0])  # the sandbox itself is broken, not the submissions
    return 0


def _bundle(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.bundle import write_bundle

    archive = write_bundle(args.bundle, config)
    print(f"wrote the Gradescope bundle to {args.bundle} (upload {archive})", file=sys.stderr)
    return 0

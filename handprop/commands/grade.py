"""``handprop grade``: grade students' backprop implementations against the reference.

    handprop grade --template [FILE] [--assignment NAME --option KEY=VALUE]   the starter file
    handprop grade SUBMISSION [--config course.toml] [--format text|json|gradescope] [--output FILE]
    handprop grade --batch FOLDER [--output grades.csv] [--jobs N]
    handprop grade --bundle FOLDER               write Gradescope's setup.sh, run_autograder, zip

A submission is a .py file, a notebook (.ipynb), a folder or a .zip. Settings come from
``--config`` (TOML), then the flags, which override it. Exit 0 whenever grading completed,
whatever the score; 2 when the grader itself could not run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..cli import CLIError
from ..grading.config import SANDBOX_MODES, VISIBILITIES, GradingConfig, config_from_settings, default_sandbox_uid, read_config_file


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "grade",
        help="grade a student's backprop implementation (or write the template, a batch CSV, a Gradescope bundle)",
        description="Grade a student's submission against handprop's reference, in a sandboxed process.",
    )
    p.add_argument("submission", nargs="?", help="the student's .py file, notebook (.ipynb), folder or .zip")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--template", nargs="?", const="", metavar="FILE",
                      help="write the assignment's starter file for students (default: its own name, e.g. backprop_assignment.py; '-' for stdout)")
    mode.add_argument("--batch", metavar="FOLDER", help="grade every submission in FOLDER into one CSV (see --output), with one feedback file per student beside it")
    mode.add_argument("--bundle", metavar="FOLDER", help="write the Gradescope autograder bundle into FOLDER")
    p.add_argument("--config", metavar="FILE", help="the course's settings file (TOML); flags override it")
    p.add_argument("--assignment", help="the assignment: network (default), chain-rule or layers")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the assignment (repeatable), e.g. hidden=relu, output=softmax, cost=cross_entropy")
    p.add_argument("--file", metavar="NAME", help="the file graded in a folder or zip submission (default: the template's name)")
    p.add_argument("--format", choices=("text", "json", "gradescope"), default="text", help="report format (default text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report (or the batch CSV, default grades.csv) to FILE, atomically")
    p.add_argument("--all", action="store_true", help="text format: show passed cases too")
    p.add_argument("--force", action="store_true",
                   help="replace an existing output (--output, the batch CSV and its feedback folder, --template's file, "
                        "a non-empty --bundle folder's bundle files); an input is never replaced")
    p.add_argument("--seed", type=int, help="seed of the randomized cases (default 0)")
    p.add_argument("--cases", type=int, help="cases per function (default 5)")
    p.add_argument("--hidden", type=int, help="how many of each function's cases are hidden on Gradescope (default 0)")
    p.add_argument("--hidden-visibility", choices=VISIBILITIES, help="Gradescope visibility of hidden cases (default after_published)")
    p.add_argument("--rtol", type=float, help="relative tolerance on each array's scale (default 1e-5; float32 work passes)")
    p.add_argument("--points", action="append", default=[], metavar="FUNCTION=P",
                   help="points for a function (repeatable; defaults: the assignment's, e.g. backprop=4)")
    p.add_argument("--timeout", type=float, help="seconds per function, wall clock (default 10)")
    p.add_argument("--memory-mb", type=int, help="address-space limit of the sandbox in MiB (default 1024)")
    p.add_argument("--max-processes", type=int, help="process limit of the sandbox user (default 8)")
    p.add_argument("--sandbox-uid", type=int, default=None,
                   help="user id that runs submissions (default: 65534 'nobody' when run as root, else your own)")
    p.add_argument("--jobs", "-j", type=int, help="--batch: submissions graded at once, each slot as a uid of its own (default: the number of cores as root, else 1)")
    p.add_argument("--sandbox", choices=SANDBOX_MODES, default=None,
                   help="how submissions are isolated: bwrap (namespaces), uid (root: a separate user), none "
                        "(trusted code only; warns); auto picks the strongest available (default)")
    p.add_argument("--no-progress", action="store_true", help="--batch: no progress bar")
    p.add_argument("--canvas-csv", metavar="PATH", help="--batch: also write the totals as a CSV for Canvas's gradebook import")
    p.add_argument("--canvas-column", metavar="NAME", help="--canvas-csv: the Canvas assignment column (default: handprop ASSIGNMENT)")
    p.add_argument("--allow-weaker-sandbox", action="store_true",
                   help="run even when a containment layer cannot be set up (no system-call policy, packages the sandbox user "
                        "can read, --jobs without a uid per slot): only for code you trust")  # fmt: skip
    p.set_defaults(run=run)


def _pairs(items: list[str], flag: str, what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise CLIError(f"{flag} expects {what}, got {item!r}")
        out[key] = value
    return out


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The course file's settings (if any) with the flags that were given laid over them."""
    from .. import settings as checks
    settings: dict[str, Any] = read_config_file(args.config) if args.config else {}
    for key in ("assignment", "seed", "cases", "hidden", "hidden_visibility", "rtol", "file"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.sandbox is not None:
        settings["sandbox_mode"] = args.sandbox
    if args.option:
        settings["options"] = {**settings.get("options", {}), **_pairs(args.option, "--option", "KEY=VALUE")}
    if args.points:
        points = dict(settings.get("points", {}))
        for name, value in _pairs(args.points, "--points", "FUNCTION=P").items():
            try:
                points[name] = float(value)
            except ValueError:
                raise CLIError(f"--points {name}={value}: {value!r} is not a number") from None
            try:
                checks.points(points[name], f"--points {name}")
            except ValueError as error:
                raise CLIError(str(error)) from None
        settings["points"] = points
    limits = dict(settings.get("limits", {}))
    for key in ("timeout", "memory_mb", "max_processes"):
        if getattr(args, key) is not None:
            limits[key] = getattr(args, key)
    limits["uid"] = args.sandbox_uid if args.sandbox_uid is not None else default_sandbox_uid()
    if args.allow_weaker_sandbox:
        limits["allow_weaker"] = True
    settings["limits"] = limits
    return settings


# flags checked by the setting's one validation (handprop.settings), so the message names the flag
FLAG_CHECKS = (
    ("--seed", "seed", "seed"), ("--cases", "cases", "cases"), ("--rtol", "rtol", "rtol"), ("--timeout", "timeout", "timeout"),
    ("--memory-mb", "memory_mb", "memory_mb"), ("--max-processes", "max_processes", "processes"), ("--sandbox-uid", "sandbox_uid", "uid"),
)  # fmt: skip


def config_from_args(args: argparse.Namespace) -> GradingConfig:
    from .. import settings

    for flag, name, check in FLAG_CHECKS:
        if getattr(args, name) is not None:
            try:
                getattr(settings, check)(getattr(args, name), flag)
            except ValueError as error:
                raise CLIError(str(error)) from None
    for item in args.points:
        if "=" not in item:
            raise CLIError(f"--points expects FUNCTION=P, got {item!r}")
    settings = settings_from_args(args)
    if args.points:
        from ..grading.assignments import get_assignment

        functions = get_assignment(settings.get("assignment", "network"), **settings.get("options", {})).functions
        for name in _pairs(args.points, "--points", "FUNCTION=P"):
            if name not in functions:
                raise CLIError(f"--points expects FUNCTION=P with FUNCTION one of {', '.join(functions)}, got {name!r}")
    return config_from_settings(settings, where=args.config or "command line")


def run(args: argparse.Namespace) -> int:
    from ..grading.sandbox import SandboxError

    modes = [m for m in ("template", "batch", "bundle") if getattr(args, m) is not None]
    if not modes and not args.submission:
        raise CLIError("nothing to grade: give a submission .py file, or --template, --batch or --bundle")
    if args.template == "" and args.submission == "-":  # --template [flags] -: the '-' is the template's
        args.template, args.submission = "-", None
    if modes and args.submission:
        raise CLIError(f"give either a submission file or --{modes[0]}, not both")
    if args.template is not None:
        return _template(args)
    if args.submission:
        _check_submission_kind(args.submission)
    if args.output:
        from ..atomic import check_writable
        from ..outputs import refuse_inputs

        try:
            refuse_inputs(args.output, [p for p in (args.submission, args.batch, args.config) if p], "--output")  # the reason first
            check_writable(args.output, "file")
        except ValueError as error:
            raise CLIError(str(error)) from None
    if "grade" in sys.argv[1:3]:  # the real command line (handprop [-v] grade …), not a test calling main()
        from ..grading.sandbox.processes import hide_command_line

        hide_command_line(keep=2)  # the seed, --hidden and paths are not readable from /proc
    config = config_from_args(args)
    if (args.canvas_csv or args.canvas_column) and args.batch is None:
        raise CLIError("--canvas-csv and --canvas-column go with --batch")
    if args.jobs is not None and args.jobs < 1:
        raise CLIError(f"--jobs must be a positive integer, got {args.jobs}")
    try:
        if args.bundle is not None:
            return _bundle(args, config)
        if args.batch is not None:
            return _batch(args, config)
        return _single(args, config)
    except SandboxError as error:
        raise CLIError(f"the grader could not run: {error}") from None


SUBMISSION_KINDS = (".py", ".ipynb", ".zip")


def _check_submission_kind(submission: str) -> None:
    """Refuse, before anything slow, a submission that is not a .py, a notebook, a folder or a .zip."""
    path = Path(submission)
    if path.is_dir() or path.suffix.lower() in SUBMISSION_KINDS:
        return
    if not path.exists():
        raise CLIError(f"{submission}: no such file or folder")
    raise CLIError(
        f"{submission} is not a submission handprop grades: expected a .py file, a notebook (.ipynb), a folder or a .zip"
    )


def _template(args: argparse.Namespace) -> int:
    from ..grading.template import write_template

    assignment = config_from_args(args).get_assignment()
    text = assignment.template()
    if args.template == "-":
        sys.stdout.write(text)
        return 0
    path = write_template(args.template or assignment.template_name, overwrite=args.force, text=text, inputs=[args.config])
    print(f"wrote the starter file {path}", file=sys.stderr)
    return 0


def _single(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.grader import grade_file, points_text
    from ..grading.report import render
    from ..outputs import check_new_file, write_text

    from pathlib import Path

    if args.output:  # before grading: never over the submission, the course file or another file without --force
        check_new_file(args.output, force=args.force, what="--output", inputs=[args.submission, args.config])
    path = Path(args.submission)
    report = grade_file(path, config, student=path.name if path.is_dir() else path.stem)  # the id of per-student cases
    text = render(report, args.format, verbose=args.all)
    if args.output:
        write_text(args.output, text, file_mode=0o600)  # the grader's own file: no sandbox user reads it
        print(f"{report.submission}: {points_text(report.score)} / {points_text(report.max_score)}; wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _batch(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.batch import feedback_folder, grade_folder_to_csv, summary

    output = args.output or "grades.csv"
    progress = False if args.no_progress else None
    from ..grading.class_report import report_path
    from ..outputs import check_new_file, write_text

    if args.canvas_csv:  # before grading, like the CSV itself
        check_new_file(args.canvas_csv, force=args.force, what="--canvas-csv", inputs=[args.batch, args.config, output])
    rows = grade_folder_to_csv(args.batch, output, config, progress=progress, jobs=args.jobs, force=args.force, inputs=[args.config])
    print(f"{summary(rows)}; wrote {output}, the class report {report_path(output)} and the feedback in {feedback_folder(output)}", file=sys.stderr)
    if args.canvas_csv:
        from ..grading.canvas import canvas_csv

        write_text(args.canvas_csv, canvas_csv(rows, config, args.canvas_column or ""), file_mode=0o600)
        print(f"wrote the Canvas gradebook import {args.canvas_csv}", file=sys.stderr)
    failed = [row.error for row in rows if row.report is None]
    if failed and len(failed) == len(rows) and all(e.startswith("the grader could not run") for e in failed):
        raise CLIError(failed[0])  # the sandbox itself is broken, not the submissions
    return 0


def _bundle(args: argparse.Namespace, config: GradingConfig) -> int:
    from ..grading.bundle import write_bundle

    archive = write_bundle(args.bundle, config, force=args.force, inputs=[args.config])
    print(f"wrote the Gradescope bundle to {args.bundle} (upload {archive})", file=sys.stderr)
    return 0

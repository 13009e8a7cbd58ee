"""``handprop COMMAND``: a thin command line over the library; ``main(argv) -> int`` is testable.

User mistakes (bad flags, missing files, invalid values) print one line on stderr and exit with 2;
a command's own verdict (for example ``check`` finding a mismatch) is its return code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Optional, Sequence

# Each name is a module in handprop.commands with register(subparsers).
COMMANDS: tuple[str, ...] = ("train", "evaluate", "check", "explain", "grade")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handprop",
        description="Backpropagation by hand in NumPy, verified against PyTorch autograd.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"handprop {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"handprop.commands.{name}").register(sub)
    for subparser in sub.choices.values():  # -v after the command too; SUPPRESS keeps one given before it
        subparser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")
    return parser


def _version() -> str:
    from handprop import __version__

    return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its usage line already
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except BrokenPipeError:  # the reader went away (handprop explain | head): stop quietly, as `yes | head` does
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left
    except (CLIError, ValueError, TypeError, OSError) as error:
        from .escaping import clean_text  # the message may name a student's file (ESC sequences, bytes)

        message = clean_text(str(error).splitlines()[0] if str(error) else type(error).__name__, newlines=False)
        print(f"handprop {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"handprop {args.command}: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured output)
        pass


if __name__ == "__main__":
    sys.exit(main())

"""Example outputs in README.md and docs/*.md, regenerated from their commands and checked by a test.

An example is a fenced block right after the marker ``<!-- example -->`` (or ``<!-- example: slow -->``,
or a named one ``<!-- example:NAME -->`` that ``--only NAME`` selects; a closing ``<!-- /example:NAME -->``
after the block is allowed and ignored) whose first lines are the commands, each starting with ``$ ``,
and whose other lines are what the commands print (stdout, then stderr), exactly:

    <!-- example -->
    ```console
    $ handprop check --arch 5-4-3 --batch-size 3
    handprop check: Network(5-4-3, …
    ```

Commands run from the repository root with MNIST at ``$HANDPROP_DATA`` (default ``../shared/data``),
``handprop`` and ``python`` meaning this interpreter's. Lines the reader may see vary from run to
run are compared masked (``MASKS``): durations in seconds, the torch version, the grading sandbox's
layers (the machine's), and numbers in
scientific notation below 1e-5 (round-off, which differs between BLAS builds). Logging lines
(``WARNING name: …``) describe the machine, not the result, and are left out.

    python tools/doc_examples.py             # check every example that is not slow; exit 1 on a difference
    python tools/doc_examples.py --update    # rewrite the outputs in place (add --slow to include slow ones)
    python tools/doc_examples.py --list      # the examples found
    python tools/doc_examples.py --update --slow --only explain   # just the examples whose commands say "explain"
    python tools/doc_examples.py --update --only network          # just the example named network (docs/grading.md)

``tests/test_doc_examples.py`` runs the check, once per example (the graded examples of
docs/grading.md included); slow examples are checked only for commands that still parse, and
regenerated with ``--update --slow``.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
COMPILING_LINE = re.compile(r"^handprop \w+: compiling the training kernels once for this machine")
LOG_LINE = re.compile(r"^(?:WARNING|INFO|DEBUG) [\w.]+: ")
# "<!-- example -->", "<!-- example: slow -->", or a named one "<!-- example:NAME -->" (docs/grading.md)
MARKER = re.compile(r"^<!-- example(?::\s*(?P<options>[\w ,-]*))? -->\s*$")
FENCE = re.compile(r"^(```+|~~~+)(\w*)\s*$")

# (pattern, replacement): parts of an output that legitimately change between runs
MASKS: tuple[tuple[str, str], ...] = (
    (r"\b\d+(?:\.\d+)? s\b", "<seconds> s"),  # durations: "0.66 s", "[0.4 s]"
    (r"torch [0-9][\w.+-]*", "torch <version>"),
    (r"(?m)^(\s*sandbox: ).*$", r"\1<this machine's sandbox layers>"),  # bwrap or uid: the machine's
    (r"[-+]?\d\.\d+e-(?:0[5-9]|[1-9]\d)\b", "<round-off>"),  # below 1e-5: round-off level
    (r"\b0\.0+e\+00\b", "<round-off>"),  # exactly 0 here may be round-off elsewhere
)


@dataclass
class Example:
    path: Path
    line: int  # 1-based line of the opening fence
    commands: list[str]
    output: str  # as written in the document
    slow: bool
    names: frozenset[str]  # the marker's other words, e.g. {"network"} for <!-- example:network -->
    start: int  # index of the first output line in the file's lines
    stop: int  # index of the closing fence

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    def selected_by(self, text: str) -> bool:
        """``--only TEXT``: the example's name, or a word of its commands."""
        return text in self.names or any(text in command for command in self.commands)


def documents(root: Path = REPO) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def find_examples(path: Path) -> list[Example]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        if not marker:
            i += 1
            continue
        options = {o.strip() for o in (marker.group("options") or "").replace(",", " ").split()}
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not fence:
            raise ValueError(f"{path}:{i + 1}: an example marker must be followed by a fenced block")
        j = i + 2
        commands = []
        while j < len(lines) and lines[j].startswith("$ "):
            commands.append(lines[j][2:])
            j += 1
        if not commands:
            raise ValueError(f"{path}:{i + 2}: an example block starts with its command(s), each after '$ '")
        end = j
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path}:{i + 2}: the example block is not closed")
        output = "\n".join(lines[j:end])
        found.append(Example(path, i + 2, commands, output, "slow" in options, frozenset(options - {"slow"}), j, end))
        i = end + 1
    return found


def argv_of(command: str) -> list[str]:
    """The command as an argument list, with ``handprop`` and ``python`` meaning this interpreter's."""
    argv = shlex.split(command)
    if argv[0] == "handprop":
        return [sys.executable, "-m", "handprop", *argv[1:]]
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    raise ValueError(f"example commands run handprop or python, not {argv[0]!r}: {command}")


def run(example: Example, data_root: Optional[Path] = None, timeout: float = 900) -> str:
    """What the example's commands print now: stdout then stderr of each, trailing blanks trimmed."""
    env = dict(os.environ, COLUMNS="120", PYTHONHASHSEED="0")
    env["HANDPROP_DATA"] = str(data_root or os.environ.get("HANDPROP_DATA") or REPO.parent / "shared" / "data")
    env.pop("CI", None)
    chunks = []
    for command in example.commands:
        result = subprocess.run(argv_of(command), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        chunks.append(result.stdout + result.stderr)
    lines = "".join(chunks).rstrip("\n").splitlines()
    # log lines describe the machine (say, a sandbox layer it lacks), not the command's result; so does
    # the line a first run prints while Numba compiles (a fresh clone's cache is empty)
    return "\n".join(line.rstrip() for line in lines if not LOG_LINE.match(line) and not COMPILING_LINE.match(line))


def masked(text: str) -> str:
    for pattern, replacement in MASKS:
        text = re.sub(pattern, replacement, text)
    return text


def is_ellipsis(line: str) -> bool:
    return line.strip() in ("…", "...")


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Do the lines match, where a line holding only "…" stands for any number of lines?"""
    import functools

    @functools.lru_cache(maxsize=None)
    def match(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if is_ellipsis(expected[i]):
            return match(i + 1, j) or (j < len(actual) and match(i, j + 1))
        return j < len(actual) and expected[i] == actual[j] and match(i + 1, j + 1)

    return match(0, 0)


def differences(expected: str, actual: str) -> list[str]:
    """The lines that differ after masking, as a unified diff (empty when they match).

    A line of the document holding only "…" stands for any number of printed lines, so a long
    output can be shown in part.
    """
    import difflib

    a, b = masked(expected).splitlines(), masked(actual).splitlines()
    if _matches(a, b):
        return []
    return list(difflib.unified_diff(a, b, "in the document", "printed now", lineterm="", n=1))


def abbreviated(document: str, actual: str) -> str:
    """``actual`` cut where the document had "…" lines (best effort; the full output if that fails)."""
    import difflib

    doc, new = document.splitlines(), actual.splitlines()
    if not any(is_ellipsis(line) for line in doc):
        return actual
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, [masked(x) for x in doc], [masked(x) for x in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        ellipses = [line for line in doc[i1:i2] if is_ellipsis(line)]
        if tag == "equal":
            out += new[j1:j2]
        elif ellipses:
            out.append(ellipses[0])  # the elided part stays elided
        else:
            out += new[j1:j2]
    result = "\n".join(out)
    return result if not differences(result, actual) else actual


def update(examples: Sequence[Example], outputs: dict[int, str]) -> None:
    """Write new outputs into the documents (bottom-up, so earlier line numbers stay valid)."""
    by_path: dict[Path, list[tuple[Example, str]]] = {}
    for k, example in enumerate(examples):
        if k in outputs:
            by_path.setdefault(example.path, []).append((example, outputs[k]))
    for path, items in by_path.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for example, output in sorted(items, key=lambda item: -item[0].start):
            lines[example.start : example.stop] = output.splitlines()
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--update", action="store_true", help="rewrite the outputs in the documents")
    parser.add_argument("--slow", action="store_true", help="include examples marked slow")
    parser.add_argument("--list", action="store_true", help="list the examples and exit")
    parser.add_argument("--only", metavar="TEXT", help="only the examples whose commands contain TEXT")
    parser.add_argument("--data-root", type=Path, default=None, help="MNIST root (default: $HANDPROP_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    examples = [e for path in documents() for e in find_examples(path)]
    if args.list:
        for e in examples:
            tags = sorted(e.names) + (["slow"] if e.slow else [])
            print(f"{e.where}{' (' + ', '.join(tags) + ')' if tags else ''}: " + " && ".join(e.commands))
        return 0
    outputs, failed = {}, 0
    for k, example in enumerate(examples):
        if (example.slow and not args.slow) or (args.only and not example.selected_by(args.only)):
            continue
        output = run(example, args.data_root)
        diff = differences(example.output, output)
        if diff:
            failed += 1
            print(f"{example.where}: the output differs from what `{' && '.join(example.commands)}` prints now")
            print("\n".join(diff))
            outputs[k] = abbreviated(example.output, output)
    if args.update:
        update(examples, outputs)
        print(f"updated {len(outputs)} example(s)")
        return 0
    print(f"{len(examples)} examples, {failed} differ" + ("" if args.slow else " (slow ones not run; --slow runs them)"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the graded examples in docs/grading.md from the commands they show.

    python docs/grading/update_examples.py          # rewrite the blocks in docs/grading.md
    python docs/grading/update_examples.py --check  # exit 1 if a block is out of date

Each block sits between ``<!-- example:NAME -->`` and ``<!-- /example:NAME -->`` and holds the
command and its text output. tests/test_grading_docs.py runs the same check.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "grading.md"

# name -> the command's arguments after ``handprop``, relative to the repository root
EXAMPLES: dict[str, list[str]] = {
    "network": ["grade", "docs/grading/network_student.py", "--config", "docs/grading/network.toml"],
    "chain-rule": ["grade", "docs/grading/chain_rule_student.py", "--config", "docs/grading/chain-rule.toml"],
    "layers": ["grade", "docs/grading/layers_student.py", "--config", "docs/grading/layers.toml"],
}

TIME = re.compile(r"\(\d+\.\d+ s\)")
SANDBOX = re.compile(r"^  sandbox: .*$", re.M)  # bwrap or uid, and its layers: the machine's, not the example's


def run(name: str) -> str:
    """The command's stdout, run from the repository root."""
    from handprop.cli import main

    out = io.StringIO()
    cwd = Path.cwd()
    try:
        os.chdir(ROOT)
        with contextlib.redirect_stdout(out):
            code = main(EXAMPLES[name])
    finally:
        os.chdir(cwd)
    if code != 0:
        raise RuntimeError(f"handprop {' '.join(EXAMPLES[name])} exited with {code}")
    return out.getvalue()


def block(name: str, output: str) -> str:
    return f"<!-- example:{name} -->\n```console\n$ handprop {' '.join(EXAMPLES[name])}\n{output.rstrip()}\n```\n<!-- /example:{name} -->"


def pattern(name: str) -> re.Pattern:
    return re.compile(rf"<!-- example:{re.escape(name)} -->.*?<!-- /example:{re.escape(name)} -->", re.S)


def normalized(text: str) -> str:
    """Timings vary from run to run, the sandbox from machine to machine; everything else must match."""
    return SANDBOX.sub("  sandbox: …", TIME.sub("(… s)", text))


def stale(text: str) -> list[str]:
    """The examples whose block in ``text`` is missing or differs from a fresh run."""
    out = []
    for name in EXAMPLES:
        found = pattern(name).search(text)
        if found is None or normalized(found.group(0)) != normalized(block(name, run(name))):
            out.append(name)
    return out


def main(argv: list[str]) -> int:
    text = GUIDE.read_text(encoding="utf-8")
    if "--check" in argv:
        names = stale(text)
        print("out of date: " + ", ".join(names) if names else "up to date")
        return 1 if names else 0
    for name in EXAMPLES:
        if not pattern(name).search(text):
            raise SystemExit(f"{GUIDE} has no block <!-- example:{name} --> … <!-- /example:{name} -->")
        text = pattern(name).sub(lambda _: block(name, run(name)), text)
    GUIDE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))

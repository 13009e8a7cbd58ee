"""The README and docs stay true to the repository: links resolve, the layout names every module,
and the two set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")}


def relative_links() -> list[tuple[Path, str]]:
    return [
        (doc, target)
        for doc in DOCS
        for target in LINK.findall(doc.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:", target)
    ]


def test_slug_is_githubs():
    assert slug(" Check your own backprop: `handprop check FILE`") == "check-your-own-backprop-handprop-check-file"


@pytest.mark.parametrize("doc, target", relative_links(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_every_relative_link_resolves(doc, target):
    file, _, anchor = target.partition("#")
    path = (doc.parent / file).resolve() if file else doc
    assert path.exists(), f"{doc.name} links to {target}, which does not exist"
    if anchor:
        assert anchor in anchors(path), f"{doc.name} links to {target}: no heading with that anchor in {path.name}"


def layout() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("## How it is built", 1)[1].split("```", 2)[1]


def test_the_layout_names_every_module_and_folder():
    block = layout()
    named = set(re.findall(r"[\w.]+\.py|[\w.]+/", block))
    modules = [p for d in ("handprop", "verify") for p in sorted((REPO / d).glob("*.py")) if p.stem not in ("__init__", "__main__")]
    missing = [str(p.relative_to(REPO)) for p in modules if p.name not in named]
    assert not missing, f"README's layout does not mention {', '.join(missing)}"
    folders = ["handprop/", "verify/", "tests/", "examples/", "benchmarks/", "docs/", "data/"]
    assert not [f for f in folders if f not in named], block
    for listed in re.findall(r"^(?:benchmarks/|tools/)?[\w]+\.py", block, flags=re.M):  # scripts named at the margin
        assert list(REPO.glob(f"*/{listed}")) or (REPO / listed).exists(), f"README's layout names {listed}, which does not exist"


def test_two_setup_commands_train_then_tests_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    intro = readme.split("\n## ", 1)[0]
    commands = [line.strip() for line in intro.splitlines() if line.startswith("    ")]
    assert len(commands) == 2, commands
    train, tests = commands
    assert train.startswith("python3 -m venv .venv && .venv/bin/pip install -e .") and ".venv/bin/handprop train" in train
    assert tests == 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert '.venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest' in ci

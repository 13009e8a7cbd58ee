"""The README and docs stay true to the repository: links resolve, the layout names every module,
and the two set-up commands are the ones CI runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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


# -- the README runs as printed ------------------------------------------------------------------


def first_commands() -> list[str]:
    """The `$ ` lines of the README's "First commands" block, in order."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## First commands", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


def api_snippet() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## First commands", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_first_commands_begin_by_activating_the_environment():
    assert first_commands()[0] == "source .venv/bin/activate"


def test_the_readme_runs_as_printed(data_root, tmp_path):
    """The first set-up command's training, then every first command and the API snippet, in order, as
    a reader types them in a fresh folder (offline, MNIST through $HANDPROP_DATA, the venv activated)."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "handprop").exists():
        pytest.skip(f"no handprop command beside {sys.executable} (install with pip install -e .)")
    (tmp_path / "docs").symlink_to(REPO / "docs")  # the course files the grading lines name
    env = {**os.environ, "HANDPROP_DATA": str(data_root), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "MPLBACKEND": "Agg", "COLUMNS": "120"}
    env.pop("PYTHONPATH", None)

    def sh(command: str) -> str:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr

    setup = (REPO / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    train = next(line.strip() for line in setup.splitlines() if line.startswith("    ") and "handprop train" in line)
    sh(train.split(" && ")[-1].replace(".venv/bin/", ""))  # the install is this test run's own
    assert (tmp_path / "runs" / "video" / "checkpoint.npz").is_file()
    said = {}
    for command in first_commands()[1:]:
        said[command] = sh(command)
    by_start = {c.split("#")[0].strip(): out for c, out in said.items()}
    assert by_start["handprop --version"].startswith("handprop ")
    assert (tmp_path / "runs" / "lockstep" / "metrics.json").is_file() and (tmp_path / "slide.png").is_file()
    assert json.loads((tmp_path / "results.json").read_text())["score"] == 0  # the template, not yet filled in
    assert "relu" in (tmp_path / "hw.py").read_text()  # the template of the course file's network
    assert (tmp_path / "grades.csv").is_file()
    (tmp_path / "api.py").write_text(api_snippet())
    sh("python api.py")

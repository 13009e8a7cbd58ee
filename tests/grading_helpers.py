"""Shared helpers for the grading tests: the correct submission and small, fast configurations."""

from __future__ import annotations

from pathlib import Path

from handprop.grading import GradingConfig, SandboxLimits

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
REFERENCE = (SUBMISSIONS / "reference.py").read_text(encoding="utf-8")


def fast_config(timeout: float = 3.0, **kwargs) -> GradingConfig:
    """Default points and cases, with a short per-function timeout and small sandbox limits."""
    sandbox = SandboxLimits(timeout=timeout, memory_mb=kwargs.pop("memory_mb", 1024), max_processes=kwargs.pop("max_processes", 16))
    return GradingConfig(sandbox=sandbox, **kwargs)


def mutate(source: str, *changes: tuple[str, str]) -> str:
    """Apply textual replacements, insisting that each one matches (a typo must fail loudly)."""
    for old, new in changes:
        if old not in source:
            raise AssertionError(f"mutation target not found: {old!r}")
        source = source.replace(old, new)
    return source


def run_autograder(bundle: Path, submission: Path, results: Path) -> dict:
    """What a bundle's run_autograder does, with the bundle's own copy of handprop (``-I``: never this
    checkout); returns the results.json it wrote."""
    import json
    import subprocess
    import sys

    code = (
        f"import sys; sys.path.insert(0, {str(bundle)!r}); import handprop; "
        f"assert handprop.__file__.startswith({str(bundle)!r}), handprop.__file__; "
        "from handprop.grading.bundle import gradescope_main; "
        f"sys.exit(gradescope_main({str(bundle)!r}, {str(submission)!r}, {str(results)!r}))"
    )
    run = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=bundle.parent)
    assert run.returncode == 0, run.stderr
    return json.loads(results.read_text())

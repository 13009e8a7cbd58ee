"""docs/grading.md: its graded examples are what their commands print today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _updater():
    spec = importlib.util.spec_from_file_location("update_examples", ROOT / "docs" / "grading" / "update_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_graded_examples_in_the_guide_are_current():
    updater = _updater()
    text = (ROOT / "docs" / "grading.md").read_text(encoding="utf-8")
    assert updater.stale(text) == [], "run: python docs/grading/update_examples.py"


def test_every_example_course_file_is_valid_and_names_its_assignment():
    from handprop.grading.config import config_from_settings, read_config_file

    for path in sorted((ROOT / "docs" / "grading").glob("*.toml")):
        config = config_from_settings(read_config_file(path), where=str(path))
        assert config.assignment == path.stem

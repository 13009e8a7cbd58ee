"""A bundle's hidden cases cannot be recomputed from a public default seed."""

from __future__ import annotations

import json
import logging

import pytest

from handprop.grading.bundle import SETTINGS_FILE, write_bundle
from handprop.grading.config import GradingConfig


def _seed(folder) -> int:
    return json.loads((folder / SETTINGS_FILE).read_text(encoding="utf-8"))["seed"]


def test_hidden_cases_with_the_default_seed_get_a_secret_random_one(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        write_bundle(tmp_path / "a", GradingConfig(hidden=2))
        write_bundle(tmp_path / "b", GradingConfig(hidden=2))
    first, second = _seed(tmp_path / "a"), _seed(tmp_path / "b")
    assert first != 0 and second != 0 and first != second
    assert "secret random seed" in caplog.text


@pytest.mark.parametrize("config", [GradingConfig(hidden=0), GradingConfig(hidden=2, seed=12345)], ids=["no-hidden", "chosen-seed"])
def test_a_chosen_seed_or_no_hidden_cases_keeps_the_seed(tmp_path, config):
    write_bundle(tmp_path, config)
    assert _seed(tmp_path) == config.seed

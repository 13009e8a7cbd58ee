"""End to end on real MNIST: one epoch of the video's network with both backends in lockstep, float64."""

from __future__ import annotations

import json

from handprop.cli import main

from train_helpers import torch_one_thread  # noqa: F401  (fixture)


def test_one_epoch_both_backends_float64(data_root, tmp_path, capsys, torch_one_thread):
    out = tmp_path / "run"
    argv = ["train", "--backend", "both", "--dtype", "float64", "--epochs", "1", "--no-progress",
            "--data-root", str(data_root), "--out", str(out)]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("handprop", "torch"):
        (epoch,) = metrics[name]["epochs"]
        assert epoch["test_accuracy"] > 0.85, f"{name} reached only {epoch['test_accuracy']:.3f} after one epoch"
    (lockstep,) = metrics["lockstep"]
    assert lockstep["max_abs_param_diff"] < 1e-12  # round-off: measured ~1e-15
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.npz"), "--data-root", str(data_root)]) == 0
    accuracy = metrics["handprop"]["epochs"][0]["test_accuracy"]
    assert f"accuracy {100 * accuracy:.2f}%" in capsys.readouterr().out

"""``handprop train`` and ``handprop evaluate`` end to end on synthetic data (MNIST loading monkeypatched)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import handprop.data
from handprop.checkpoint import load_checkpoint
from handprop.cli import main

from train_helpers import synthetic_mnist, torch_one_thread  # noqa: F401  (fixtures)

FAST = ["--arch", "784-16-10", "--init", "xavier", "--no-progress"]


def read_metrics(out):
    return json.loads((out / "metrics.json").read_text())


EPOCH_KEYS = {"epoch", "train_cost", "test_cost", "test_accuracy", "train_seconds"}


def check_backend_metrics(block, epochs):
    assert [m["epoch"] for m in block["epochs"]] == list(range(1, epochs + 1))
    for m in block["epochs"]:
        assert EPOCH_KEYS <= set(m)
        assert 0.0 <= m["test_accuracy"] <= 1.0
        assert m["train_seconds"] > 0 and np.isfinite(m["train_cost"])


def test_train_writes_metrics_checkpoint_and_plots(synthetic_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *FAST, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch   2/2" in printed and "test accuracy" in printed
    metrics = read_metrics(out)
    assert metrics["config"]["arch"] == [784, 16, 10] and metrics["config"]["lr"] == 3.0
    check_backend_metrics(metrics, 2)
    assert metrics["epochs"][-1]["test_accuracy"] > 0.9
    net, meta = load_checkpoint(out / "checkpoint.npz")
    assert meta["epoch"] == 2 and net.sizes == (784, 16, 10)
    for png in ("curves.png", "first_layer.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*tmp"))  # no temporary files left behind


def test_train_both_metrics_layout(synthetic_mnist, tmp_path, torch_one_thread):
    out = tmp_path / "both"
    assert main(["train", *FAST, "--backend", "both", "--dtype", "float64", "--epochs", "2", "--out", str(out)]) == 0
    metrics = read_metrics(out)
    assert {"config", "handprop", "torch", "lockstep"} <= set(metrics)
    for name in ("handprop", "torch"):
        check_backend_metrics(metrics[name], 2)
    assert [entry["epoch"] for entry in metrics["lockstep"]] == [1, 2]
    assert max(entry["max_abs_param_diff"] for entry in metrics["lockstep"]) < 1e-12


@pytest.mark.parametrize("backend", ["handprop", "both"])
def test_resume_continues_exactly(synthetic_mnist, tmp_path, torch_one_thread, backend):
    straight, split = tmp_path / "straight", tmp_path / "split"
    flags = [*FAST, "--l2", "1", "--backend", backend, "--dtype", "float64"]
    assert main(["train", *flags, "--epochs", "3", "--out", str(straight)]) == 0
    assert main(["train", *flags, "--epochs", "1", "--out", str(split)]) == 0
    assert main(["train", "--resume", str(split / "checkpoint.npz"), "--epochs", "3", "--no-progress"]) == 0
    a, _ = load_checkpoint(straight / "checkpoint.npz")
    b, meta = load_checkpoint(split / "checkpoint.npz")
    assert meta["epoch"] == 3
    for p, q in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(p, q)
    block = (lambda m: m) if backend == "handprop" else (lambda m: m["torch"])  # noqa: E731
    costs = lambda out: [m["train_cost"] for m in block(read_metrics(out))["epochs"]]  # noqa: E731
    assert len(costs(split)) == 3 and costs(split) == costs(straight)


def test_nan_stop_from_the_command_line(synthetic_mnist, tmp_path, capsys):
    args = ["--hidden", "relu", "--output", "identity", "--init", "he", "--lr", "50", "--arch", "784-32-10", "--no-progress"]
    assert main(["train", *args, "--epochs", "1", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "epoch 1, batch" in error and "smaller --lr" in error


def test_evaluate_prints_accuracy_and_confusion_matrix(synthetic_mnist, tmp_path, capsys):
    assert main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path)]) == 0
    accuracy = read_metrics(tmp_path)["epochs"][-1]["test_accuracy"]
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "checkpoint.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"accuracy {100 * accuracy:.2f}%" in lines[0]
    matrix = np.array([[int(v) for v in line.split()[1:]] for line in lines[2:12]])
    assert matrix.shape == (10, 10) and matrix.sum() == 100
    assert np.trace(matrix) == round(accuracy * 100)


def test_evaluate_and_explain_take_the_runs_folder_as_resume_and_load_run_do(synthetic_mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAST, "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run / "checkpoint.npz")]) == 0
    by_file = capsys.readouterr().out.splitlines()
    assert main(["evaluate", str(run)]) == 0
    by_folder = capsys.readouterr().out.splitlines()
    assert by_folder[0].replace(str(run), str(run / "checkpoint.npz")) == by_file[0] and by_folder[1:] == by_file[1:]
    figure = tmp_path / "explain.png"
    assert main(["explain", "--checkpoint", str(run), "--no-study", "--no-progress", "--out", str(figure)]) == 0
    assert "network 784-16-10" in capsys.readouterr().out and figure.is_file()
    assert main(["evaluate", str(tmp_path)]) == 2  # a folder without a checkpoint: one line naming the file looked for
    assert f"checkpoint not found: {tmp_path / 'checkpoint.npz'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--arch", "784-x-10"], "--arch must be layer widths"),
        (["--arch", "100-16-10"], "does not fit mnist"),
        (["--lr", "-3"], "lr must be a positive"),
        (["--hidden", "relu,relu,relu"], "hidden layers"),
        (["--batch-size", "0"], "batch_size must be a positive integer"),
        (["--backend", "handprop", "--device", "cuda"], "CPU only"),
    ],
)
def test_bad_flags_give_one_line_errors(synthetic_mnist, capsys, argv, message):
    assert main(["train", "--no-progress", "--epochs", "1", *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error


def test_cuda_without_a_gpu_is_a_clear_error(synthetic_mnist, capsys):
    import torch  # a dependency: a broken install fails, it does not skip

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU; the error is for machines without one")
    assert main(["train", *FAST, "--backend", "torch", "--device", "cuda", "--epochs", "1"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_resume_refuses_changed_hyperparameters(synthetic_mnist, tmp_path, capsys):
    assert main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "checkpoint.npz"), "--arch", "784-8-10", "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "arch=(784, 8, 10), seed=3 differ from the checkpoint's arch=(784, 16, 10), seed=0" in err
    assert "a resumed run keeps its settings except epochs, lr, l2 and batch_size (--epochs, --lr, --l2, --batch-size)" in err


def test_resume_may_change_lr_l2_and_batch_size_recorded_per_epoch(synthetic_mnist, tmp_path, capsys):
    assert main(["train", *FAST, "--epochs", "1", "--out", str(tmp_path)]) == 0
    flags = ["--lr", "0.5", "--l2", "0.1", "--batch-size", "20", "--epochs", "2"]
    assert main(["train", "--resume", str(tmp_path / "checkpoint.npz"), *flags, "--no-progress"]) == 0
    metrics = read_metrics(tmp_path)
    assert [(m["lr"], m["l2"], m["batch_size"]) for m in metrics["epochs"]] == [(3.0, 0.0, 10), (0.5, 0.1, 20)]
    assert (metrics["config"]["lr"], metrics["config"]["batch_size"]) == (0.5, 20)
    assert "lr 0.5, l2 0.1" in capsys.readouterr().out


def test_19_an_empty_out_is_refused_and_no_out_says_nothing_is_saved(synthetic_mnist, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *FAST, "--epochs", "1", "--out", ""]) == 2
    err = capsys.readouterr().err
    assert err == "handprop train: error: out (--out) must name a folder for metrics.json, checkpoint.npz and the plots; got an empty name\n"
    assert main(["train", *FAST, "--epochs", "1"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("nothing saved: give --out FOLDER to keep the checkpoint, metrics.json and plots")
    assert list(tmp_path.iterdir()) == []


def interrupt_in_epoch(monkeypatch, epoch: int):
    """Ctrl-C arrives during training epoch ``epoch`` (1-based, counted within this process)."""
    import handprop.training

    real, calls = handprop.training.train_epoch, []

    def train_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == epoch:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(handprop.training, "train_epoch", train_epoch)
    return real


def test_22_ctrl_c_says_what_was_saved_and_how_to_resume(synthetic_mnist, tmp_path, capsys, monkeypatch):
    import handprop.training

    out = tmp_path / "run"
    real = interrupt_in_epoch(monkeypatch, 3)
    assert main(["train", *FAST, "--epochs", "4", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    checkpoint = out / "checkpoint.npz"
    assert err == (f"handprop train: interrupted during epoch 3; {checkpoint} holds epoch 2 of 4 (plots in {out}). "
                   f"Resume with: handprop train --resume {checkpoint}\n")
    assert load_checkpoint(checkpoint)[1]["epoch"] == 2 and len(read_metrics(out)["epochs"]) == 2
    for png in ("curves.png", "first_layer.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setattr(handprop.training, "train_epoch", real)
    assert main(["train", "--resume", str(checkpoint), "--no-progress"]) == 0
    assert len(read_metrics(out)["epochs"]) == 4


@pytest.mark.parametrize("out", [True, False], ids=["first-epoch", "no-out"])
def test_22_ctrl_c_before_anything_was_saved(synthetic_mnist, tmp_path, capsys, monkeypatch, out):
    interrupt_in_epoch(monkeypatch, 1)
    argv = ["train", *FAST, "--epochs", "2"] + (["--out", str(tmp_path / "run")] if out else [])
    assert main(argv) == 130
    reason = "no epoch had finished, so nothing was saved" if out else "nothing was saved (no --out)"
    assert capsys.readouterr().err == f"handprop train: interrupted during epoch 1; {reason}\n"


def test_missing_dataset_without_network_is_one_clear_line(tmp_path, monkeypatch, capsys):
    """Offline: the download fails quietly (as without a network) and the error names the files."""
    downloads = []
    monkeypatch.setattr(handprop.data, "_download", lambda name, root: downloads.append((name, root)))
    assert main(["train", "--data-root", str(tmp_path), "--no-progress", "--epochs", "1"]) == 2
    error = capsys.readouterr().err.strip()
    assert downloads, "a download should have been attempted"
    assert len(error.splitlines()) == 1
    assert "train-images-idx3-ubyte" in error and str(tmp_path) in error and "--data-root" in error

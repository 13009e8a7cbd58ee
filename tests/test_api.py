"""The Python API: ``handprop.train`` / ``load_run`` / ``load_mnist`` and figures that leave matplotlib alone."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import handprop
from handprop.cli import main
from handprop.training import EpochMetrics

from conftest import REPO
from train_helpers import synthetic_digits, synthetic_mnist, torch_one_thread  # noqa: F401  (fixtures)

FAST = {"arch": "784-16-10", "init": "xavier", "progress": False}


def test_train_on_mnist_matches_the_cli_and_load_run_reads_its_folder(data_root, tmp_path, capsys):
    """The done-when of issue 10: same settings, same accuracy; the CLI's folder loads as the same kind of Run.

    One epoch of each is enough to compare them (several epochs and resuming are tested on synthetic data)."""
    out = tmp_path / "cli"
    assert main(["train", "--epochs", "1", "--data-root", str(data_root), "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    run = handprop.train(epochs=1, data_root=data_root, progress=False)
    loaded = handprop.load_run(out)
    assert [m.epoch for m in run.history["handprop"]] == [1]
    assert run.final().test_accuracy == loaded.final().test_accuracy > 0.8
    assert run.metrics()["epochs"][-1]["train_cost"] == loaded.metrics()["epochs"][-1]["train_cost"]
    for p, q in zip(run.network.weights + run.network.biases, loaded.network.weights + loaded.network.biases):
        np.testing.assert_array_equal(p, q)
    x, labels = handprop.load_mnist("test", data_root=data_root)
    assert x.shape == (10_000, 784) and labels.shape == (10_000,) and 0.0 <= x.min() and x.max() <= 1.0
    assert (run.network.predict(x) == labels).mean() == run.final().test_accuracy


def test_train_returns_a_run_and_writes_nothing_without_out(synthetic_mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    run = handprop.train(epochs=2, on_epoch=lambda r: seen.append(r.epoch), **FAST)
    assert seen == [1, 2] and run.epoch == 2 and run.start_epoch == 0 and run.out is None
    assert isinstance(run.history["handprop"][0], EpochMetrics)
    assert run.network.sizes == (784, 16, 10) and run.config.arch == (784, 16, 10)
    assert run.metrics()["best"]["epoch"] in (1, 2)
    assert list(tmp_path.iterdir()) == []
    assert "backend=handprop, epochs 2/2" in repr(run)


def test_torch_backend_is_converted_back(synthetic_mnist, torch_one_thread):
    run = handprop.train(epochs=1, backend="torch", dtype="float64", **FAST)
    assert set(run.history) == {"torch"} and isinstance(run.network, handprop.Network)
    _, _, x_test, y_test = synthetic_digits(n_train=300, n_test=100)  # the fixture's data
    assert (run.network.predict(x_test) == y_test).mean() == run.final("torch").test_accuracy


def test_resume_through_the_api_continues_and_keeps_settings(synthetic_mnist, tmp_path):
    straight = handprop.train(epochs=2, **FAST)
    handprop.train(epochs=1, out=tmp_path, **FAST)
    resumed = handprop.train(resume=tmp_path, epochs=2, progress=False)
    assert resumed.start_epoch == 1 and resumed.out == tmp_path
    assert [m.train_cost for m in resumed.history["handprop"]] == [m.train_cost for m in straight.history["handprop"]]
    with pytest.raises(ValueError, match="seed=5 differs from the checkpoint's seed=0"):
        handprop.train(resume=tmp_path, epochs=3, seed=5)
    done = handprop.train(resume=tmp_path / "checkpoint.npz", epochs=2)
    assert done.epoch == done.start_epoch == 2  # nothing left to train


def test_ctrl_c_in_python_says_what_was_saved_and_how_to_resume(synthetic_mnist, tmp_path):
    def stop(run):
        if run.epoch == 2:
            raise KeyboardInterrupt

    from handprop.api import TrainingInterrupted

    with pytest.raises(TrainingInterrupted) as caught:
        handprop.train(epochs=4, out=tmp_path, on_epoch=stop, **FAST)
    checkpoint = tmp_path / "checkpoint.npz"
    assert isinstance(caught.value, KeyboardInterrupt)  # Jupyter's interrupt stays an interrupt
    assert caught.value.checkpoint == checkpoint and caught.value.saved_epoch == 2 and caught.value.run.epoch == 2
    assert str(caught.value) == f"training interrupted during epoch 3; {checkpoint} holds epoch 2; continue with handprop.train(resume={str(checkpoint)!r})"
    assert handprop.train(resume=checkpoint, progress=False).epoch == 4


def test_a_new_run_into_a_folder_holding_one_is_refused_unless_forced(synthetic_mnist, tmp_path):
    handprop.train(epochs=1, out=tmp_path, **FAST)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(ValueError, match=f"{tmp_path} already holds a run .checkpoint.npz.; continue it with --resume {tmp_path}"):
        handprop.train(epochs=1, out=tmp_path, **FAST)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert handprop.train(epochs=1, out=tmp_path, force=True, seed=5, **FAST).epoch == 1
    assert (tmp_path / "checkpoint.npz").read_bytes() != before


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"learning_rate": 0.1}, TypeError, "unknown training setting"),
        ({"arch": "784-x-10"}, ValueError, "layer widths"),
        ({"lr": -1.0}, ValueError, "lr must be a positive"),
        ({"backend": "jax"}, ValueError, "unknown backend"),
        ({"device": "cuda"}, ValueError, "CPU only"),
    ],
)
def test_bad_settings_are_clear_errors(synthetic_mnist, kwargs, error, message):
    with pytest.raises(error, match=message):
        handprop.train(epochs=1, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dtype": "int8"}, "unsupported dtype 'int8'; expected one of: float32, float64"),  # pixels in [0, 1] would all be 0
        ({"split": "validation"}, "unknown split 'validation'; expected one of: train, test"),
        ({"dataset": "emnist"}, "unknown dataset 'emnist'"),
    ],
)
def test_load_mnist_refuses_what_it_cannot_return_before_reading_files(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        handprop.load_mnist(**{"split": "test", "data_root": tmp_path / "none", **kwargs})
    assert list(tmp_path.iterdir()) == []  # nothing downloaded, no folder left behind


def test_figures_leave_the_backend_alone_and_write_only_when_asked(synthetic_mnist, tmp_path):
    import matplotlib
    from matplotlib.figure import Figure

    run = handprop.train(epochs=1, **FAST)
    before = matplotlib.get_backend()
    fig = run.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(run.plot_first_layer(), Figure)
    assert matplotlib.get_backend() == before
    path = tmp_path / "curves.png"
    assert run.plot(path) is not None and path.read_bytes()[:4] == b"\x89PNG"


def test_plot_curves_takes_epoch_metrics_or_dicts():
    from handprop.plots import plot_curves

    epochs = [EpochMetrics(1, 0.5, 0.6, 0.8, 1.0), EpochMetrics(2, 0.4, 0.5, 0.9, 1.0)]
    a = plot_curves({"handprop": epochs})
    b = plot_curves({"handprop": [vars(m) for m in epochs]})
    assert [line.get_ydata().tolist() for line in a.axes[1].lines] == [line.get_ydata().tolist() for line in b.axes[1].lines]
    with pytest.raises(TypeError, match="EpochMetrics or a dict"):
        plot_curves({"handprop": [(1, 0.5)]})


def test_import_handprop_stays_light():
    code = (
        "import sys, handprop; handprop.train, handprop.load_run, handprop.load_mnist, handprop.check_backprop; "
        "print(sorted(m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


def test_no_library_module_changes_the_matplotlib_backend():
    """Neither matplotlib.use nor pyplot (whose figures a notebook would show twice) in the library."""
    calls = ("matplotlib.use(", "import matplotlib.pyplot", "from matplotlib import pyplot")
    offenders = [
        str(path.relative_to(REPO)) for path in (REPO / "handprop").rglob("*.py")
        if "commands" not in path.parts and any(call in path.read_text(encoding="utf-8") for call in calls)
    ]
    assert offenders == []

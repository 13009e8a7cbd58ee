"""What a newcomer meets first: the version, -v anywhere, cheap checks before slow work, the data read.

Each refusal is checked to come before the data load: the loader is replaced by one that fails the
test if it is called.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import handprop.data
from handprop.atomic import check_writable
from handprop.cli import build_parser, main

from train_helpers import synthetic_mnist  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_data_load(monkeypatch):
    """Any MNIST load fails the test: the refusal must come first."""

    def refuse(*args, **kwargs):
        pytest.fail("the data were loaded before a cheap check refused the command")

    monkeypatch.setattr(handprop.data, "load_dataset", refuse)


def test_version_prints_the_package_version(capsys):
    from handprop import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"handprop {__version__}"


@pytest.mark.parametrize("argv", [["-v", "train"], ["train", "-v"], ["train", "--verbose"], ["check", "-v"]])
def test_verbose_is_accepted_before_or_after_the_command(argv):
    assert build_parser().parse_args(argv).verbose is True


def test_verbose_is_off_by_default():
    assert build_parser().parse_args(["train"]).verbose is False


@pytest.mark.parametrize(
    "path, kind, expected",
    [
        ("/sys/handprop-x", "folder", "cannot write to /sys/handprop-x: "),
        ("/proc/handprop-x/run", "folder", "cannot write to /proc/handprop-x/run: "),
        ("/sys/handprop-x.json", "file", "cannot write to /sys/handprop-x.json: "),
    ],
)
def test_an_unwritable_place_is_named_in_words(path, kind, expected):
    if not Path("/sys").is_dir() or not Path("/proc").is_dir():
        pytest.skip("no /sys and /proc on this system")
    with pytest.raises(ValueError, match=f"^{expected}") as error:
        check_writable(path, kind)
    assert "Errno" not in str(error.value)


def test_a_file_where_a_folder_is_needed_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match=r"is a file, not a folder"):
        check_writable(tmp_path / "f" / "run")
    with pytest.raises(ValueError, match=r"it is a folder; give a file name"):
        check_writable(tmp_path, "file")


def test_a_writable_place_passes_and_nothing_is_left_behind(tmp_path):
    check_writable(tmp_path / "new" / "run")
    check_writable(tmp_path / "report.json", "file")
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_an_unwritable_out_before_loading_data(no_data_load, capsys):
    if not Path("/sys").is_dir():
        pytest.skip("no /sys on this system")
    assert main(["train", "--epochs", "1", "--out", "/sys/handprop-run", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["handprop train: error: cannot write to /sys/handprop-run: permission denied (/sys does not let it be made)"]


def test_train_refuses_cuda_without_a_driver_before_loading_data(no_data_load, capsys):
    if os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has an NVIDIA driver; the refusal is for machines without one")
    assert main(["train", "--backend", "torch", "--device", "cuda", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU; use --device cpu" in err[0]


def test_the_cuda_refusal_imports_no_torch_and_is_fast():
    if os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0"):
        pytest.skip("this machine has an NVIDIA driver; the refusal is for machines without one")
    code = (
        "import sys; from handprop.cli import main; rc = main(['train', '--backend', 'torch', '--device', 'cuda']); "
        "print(rc, 'torch' in sys.modules, 'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.split() == ["2", "False", "False"], out.stderr


def test_grade_refuses_a_file_of_another_kind(tmp_path, capsys):
    text = tmp_path / "answer.txt"
    text.write_text("def backprop(): pass\n")
    assert main(["grade", str(text)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"handprop grade: error: {text} is not a submission handprop grades: expected a .py file, a notebook (.ipynb), a folder or a .zip"
    ]


def test_grade_refuses_an_unwritable_report_before_grading(tmp_path, capsys):
    if not Path("/sys").is_dir():
        pytest.skip("no /sys on this system")
    submission = tmp_path / "hw.py"
    submission.write_text("x = 1\n")
    assert main(["grade", str(submission), "-o", "/sys/handprop-results.json"]) == 2
    err = capsys.readouterr().err
    assert "cannot write to /sys/handprop-results.json: permission denied" in err


def test_template_then_flags_then_dash_prints_the_template(capsys):
    assert main(["grade", "--template", "--assignment", "layers", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('"""Backpropagation, one layer at a time')


def test_the_resumed_run_says_from_which_epoch(synthetic_mnist, tmp_path, capsys):  # noqa: F811
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(run), "--no-progress", "--engine", "numpy"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress", "--engine", "numpy"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.endswith("; resuming from epoch 1"), header


def test_a_fresh_run_says_nothing_of_resuming(synthetic_mnist, capsys):  # noqa: F811
    assert main(["train", "--epochs", "1", "--no-progress", "--engine", "numpy"]) == 0
    assert "resuming" not in capsys.readouterr().out


# -- the data read: NumPy alone, the same numbers as torchvision's -----------------------------


def test_reading_mnist_imports_no_torch(data_root):
    code = (
        "import sys; from handprop.data import load_dataset; "
        f"x, y = load_dataset('mnist', 'test', {str(data_root)!r}, download=False, dtype='float32'); "
        "print(x.shape, x.dtype, 'torch' in sys.modules, 'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.stdout.split() == ["(10000,", "784)", "float32", "False", "False"], out.stderr


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_numpy_read_equals_torchvisions(data_root, dtype):
    torchvision = pytest.importorskip("torchvision")
    ds = torchvision.datasets.MNIST(root=str(data_root), train=False, download=False)
    expected = (ds.data.numpy().reshape(len(ds.targets), -1).astype(np.float64) / 255.0).astype(dtype)
    x, y = handprop.data.load_dataset("mnist", "test", data_root, download=False, dtype=dtype)
    assert x.dtype == np.dtype(dtype) and x.shape == expected.shape
    assert np.array_equal(x, expected)  # bit for bit: the same quotient, rounded once
    assert np.array_equal(y, ds.targets.numpy()) and y.dtype == np.int64


# -- figures read at a glance -------------------------------------------------------------------


def _epochs(n):
    from handprop.training import EpochMetrics

    return [EpochMetrics(e, 0.2 / e, 0.21 / e, 0.7 + 0.01 * e, 0.1, 3.0, 0.0, 10) for e in range(1, n + 1)]


def test_the_curves_name_the_cost_and_the_run():
    from handprop.plots import plot_curves

    fig = plot_curves({"handprop": _epochs(5)}, cost="quadratic", title="runs/video: 784-16-16-10")
    ax_cost, ax_acc = fig.axes
    assert "quadratic cost" in ax_cost.get_ylabel() and "mean per example" in ax_cost.get_ylabel()
    assert fig._suptitle is not None and fig._suptitle.get_text() == "runs/video: 784-16-16-10"
    assert len(ax_cost.texts) == 0  # five epochs: curves, no labelled points


def test_one_epoch_of_both_backends_is_readable():
    from handprop.plots import plot_curves

    fig = plot_curves({"handprop": _epochs(1), "torch": _epochs(1)}, cost="cross_entropy")
    ax_cost, ax_acc = fig.axes
    markers = {line.get_label(): line.get_marker() for line in ax_acc.get_lines()}
    assert markers["handprop"] != markers["torch"]  # identical values stay distinguishable
    assert ax_acc.get_xlim() == (0.5, 1.5) and list(ax_acc.get_xticks()) == [1]
    labels = [t.get_text() for t in ax_acc.texts]
    assert labels == ["71.00%", "71.00%"]  # each point says its value
    low, high = ax_cost.get_ylim()
    assert "cross-entropy" in ax_cost.get_ylabel() and high - low > 0.05 * 0.21


def test_the_first_layer_figure_has_one_scale_and_a_colour_bar():
    from handprop.plots import plot_first_layer

    W = np.random.default_rng(0).standard_normal((16, 784))
    W[3] *= 10  # one unit with larger weights must look larger, not the same
    fig = plot_first_layer(W, title="runs/video")
    images = [im for ax in fig.axes for im in ax.get_images()]
    assert len(images) == 16 and {im.get_clim() for im in images} == {(-np.abs(W).max(), np.abs(W).max())}
    bars = [ax for ax in fig.axes if ax.get_ylabel().startswith("weight from each pixel")]
    assert len(bars) == 1
    assert fig._suptitle.get_text().startswith("runs/video\n")


def test_a_runs_figures_name_its_folder(synthetic_mnist, tmp_path):  # noqa: F811
    import handprop

    run = handprop.train(epochs=1, out=tmp_path / "run", progress=False, engine="numpy")
    assert run.plot()._suptitle.get_text().startswith(f"{tmp_path / 'run'}: 784-16-16-10 float32, handprop, 1 epoch")


# -- one data rule: --data-root > $HANDPROP_DATA > ~/.local/share/handprop -----------------------


@pytest.fixture
def offline(monkeypatch):
    """No download: the files stay missing, as on a machine without a network."""
    monkeypatch.setattr(handprop.data, "_download", lambda name, root: None)


def test_the_default_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("HANDPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert handprop.data.resolve_root() == tmp_path / "handprop"
    monkeypatch.setenv("HANDPROP_DATA", str(tmp_path / "env"))
    assert handprop.data.resolve_root() == tmp_path / "env"
    assert handprop.data.resolve_root(tmp_path / "given") == tmp_path / "given"


@pytest.mark.parametrize("how", ["default", "env", "given"])
def test_missing_files_give_one_message_naming_where_it_looked(offline, monkeypatch, tmp_path, how):
    monkeypatch.delenv("HANDPROP_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    expected_root = tmp_path / "xdg" / "handprop"
    origin = "the default, as neither --data-root / data_root= nor $HANDPROP_DATA was given"
    if how == "env":
        monkeypatch.setenv("HANDPROP_DATA", str(tmp_path / "env"))
        expected_root, origin = tmp_path / "env", "from $HANDPROP_DATA"
    elif how == "given":
        expected_root, origin = tmp_path / "given", "given as --data-root / data_root="
    with pytest.raises(handprop.data.DatasetNotFoundError) as error:
        handprop.data.load_dataset("mnist", "test", None if how != "given" else tmp_path / "given")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"MNIST files missing from {expected_root / 'MNIST' / 'raw'}: ")
    assert f"Looked in {expected_root} only ({origin})" in message
    assert "--data-root DIR (data_root=DIR in Python) or HANDPROP_DATA=DIR" in message

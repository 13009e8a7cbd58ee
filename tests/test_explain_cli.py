"""``handprop explain`` on real MNIST (fresh and trained networks) and its one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from handprop import Network
from handprop.checkpoint import save_checkpoint
from handprop.cli import main
from handprop.data import load_dataset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_checkpoint(data_root, tmp_path_factory):
    """784-16-16-10 after 400 SGD steps (batch 10, η = 3.0) on the first 4000 training images."""
    X, y = load_dataset("mnist", "train", data_root)
    net = Network([784, 16, 16, 10], seed=1)
    x, Y = net.prepare(X[:4000], y[:4000])
    rng = np.random.default_rng(0)
    for _ in range(400):
        idx = rng.choice(len(x), size=10, replace=False)
        nabla_w, nabla_b = net.backprop_prepared(x[idx], Y[idx])
        for W, b, gw, gb in zip(net.weights, net.biases, nabla_w, nabla_b):
            W -= 3.0 * gw
            b -= 3.0 * gb
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.npz", net, {"steps": 400})
    return path, net


def _printed_cost(text: str) -> float:
    return float(re.search(r"this example's cost C_x = ([0-9.]+)", text).group(1))


def _check_png(path, width=2250, height=1290):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    assert matplotlib.image.imread(path).shape[:2] == (height, width)


def test_explain_fresh_network(data_root, tmp_path, capsys):
    out = tmp_path / "fresh.png"
    rc = main(["explain", "--data-root", str(data_root), "--index", "3", "--seed", "2", "--out", str(out),
               "--trials", "3", "--no-progress"])
    text = capsys.readouterr().out
    assert rc == 0
    X, y = load_dataset("mnist", "train", data_root)
    net = Network([784, 16, 16, 10], seed=2)  # what explain builds from --seed 2
    assert _printed_cost(text) == pytest.approx(net.cost(X[3:4], y[3:4]), rel=1e-5)
    assert f"Label {y[3]}, predicted {net.predict(X[3:4])[0]}" in text
    assert "fresh network from --seed 2" in text
    assert "over all 60000 training examples" in text
    sizes = re.findall(r"^\s+(1|10|100|1000)\s+[01]\.\d{3} ± ", text, flags=re.M)
    assert sizes == ["1", "10", "100", "1000"]
    _check_png(out)


def test_explain_trained_checkpoint(data_root, trained_checkpoint, tmp_path, capsys):
    path, net = trained_checkpoint
    out = tmp_path / "fig" / "trained.png"
    rc = main(["explain", "--checkpoint", str(path), "--data-root", str(data_root), "--split", "test",
               "--index", "11", "--neuron", "2", "--out", str(out), "--no-study"])
    text = capsys.readouterr().out
    assert rc == 0
    X, y = load_dataset("mnist", "test", data_root)
    assert _printed_cost(text) == pytest.approx(net.cost(X[11:12], y[11:12]), rel=1e-5)
    assert "Three avenues to change output neuron 2's activation" in text
    assert f"checkpoint {path}" in text
    assert "training examples" not in text  # --no-study
    _check_png(out)
    # the trained network is better than chance on the test set: it learnt something
    assert (net.predict(X[:1000]) == y[:1000]).mean() > 0.5


def _error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("handprop explain: error: ")
    assert "Traceback" not in err
    return err


def test_index_out_of_range(data_root, tmp_path, capsys):
    err = _error(capsys, ["explain", "--data-root", str(data_root), "--split", "test", "--index", "10000",
                          "--out", str(tmp_path / "x.png")])
    assert "out of range" in err and "10000 examples" in err
    assert not (tmp_path / "x.png").exists()


def test_negative_index(data_root, tmp_path, capsys):
    assert "out of range" in _error(capsys, ["explain", "--data-root", str(data_root), "--index", "-1",
                                             "--out", str(tmp_path / "x.png")])


def test_checkpoint_with_wrong_input_size(data_root, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "small.npz", Network([100, 8, 10], seed=0))
    err = _error(capsys, ["explain", "--checkpoint", str(path), "--data-root", str(data_root),
                          "--out", str(tmp_path / "x.png")])
    assert "100 inputs" in err and "784 pixels" in err


def test_checkpoint_with_wrong_output_size(data_root, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "five.npz", Network([784, 8, 5], seed=0))
    assert "5 outputs" in _error(capsys, ["explain", "--checkpoint", str(path), "--data-root", str(data_root),
                                          "--out", str(tmp_path / "x.png")])


def test_missing_checkpoint(tmp_path, capsys):
    err = _error(capsys, ["explain", "--checkpoint", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.png")])
    assert "not found" in err


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    assert "bad.npz is not a handprop checkpoint: it is not a .npz archive" in _error(capsys, ["explain", "--checkpoint", str(bad)])


def test_neuron_out_of_range(data_root, tmp_path, capsys):
    err = _error(capsys, ["explain", "--data-root", str(data_root), "--neuron", "10", "--no-study",
                          "--out", str(tmp_path / "x.png")])
    assert "neuron must be an output neuron in [0, 9]" in err


# ---------------------------------------------------------------------------------------------
# issue 11: --out, the checkpoint's dataset and class names, a closed pipe, a negative seed


@pytest.mark.parametrize(
    "out, written",
    [("folder/", "folder/explain.png"), ("existing", "existing/explain.png"), ("slide", "slide.png"),
     ("slide.svg", "slide.svg")],
    ids=["new-folder", "existing-folder", "no-extension", "svg"],
)
def test_the_figure_is_written_where_it_is_printed(data_root, tmp_path, capsys, monkeypatch, out, written):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing").mkdir()
    assert main(["explain", "--data-root", str(data_root), "--no-study", "--out", out]) == 0
    assert capsys.readouterr().out.rstrip().endswith(f"figure: {written}")
    assert (tmp_path / written).is_file()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [Path(written).name]


def test_a_figure_name_with_an_unknown_extension_is_refused(tmp_path, capsys):
    err = _error(capsys, ["explain", "--out", str(tmp_path / "slide.v2")])
    assert "slide.v2: expected a name ending in .png, .pdf or .svg" in err


def test_a_negative_seed_is_named(tmp_path, capsys):
    path = save_checkpoint(tmp_path / "c.npz", Network([784, 4, 10], seed=0))
    for argv in (["explain", "--seed", "-1"], ["explain", "--checkpoint", str(path), "--seed", "-1"]):
        assert "seed must be a non-negative integer, got -1" in _error(capsys, argv)


def test_explain_reads_the_dataset_from_the_checkpoint(tmp_path, capsys, monkeypatch):
    """A run trained on Fashion-MNIST is explained on Fashion-MNIST (whose files are absent here)."""
    import torchvision

    from handprop.runstate import RUN_KIND

    def no_network(self):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", no_network)
    meta = {"kind": RUN_KIND, "config": {"dataset": "fashion-mnist"}}  # incomplete: refused as a run
    path = save_checkpoint(tmp_path / "fashion.npz", Network([784, 4, 10], seed=0), meta)
    err = _error(capsys, ["explain", "--checkpoint", str(path), "--data-root", str(tmp_path)])
    assert "fashion.npz is not a handprop checkpoint: meta has no 'epoch'" in err

    from train_helpers import synthetic_digits
    from handprop.runstate import save_run
    from handprop.backends import make_backend
    from handprop.training import Dataset, TrainConfig, Trainer

    config = TrainConfig(arch=(784, 4, 10), epochs=1, dataset="fashion-mnist")
    trainer = Trainer(config, {"handprop": make_backend("handprop", config.build_network(), config)},
                      Dataset(*synthetic_digits(n_train=50, n_test=10)), config.generators()[1], progress=False)
    trainer.run()
    path = save_run(tmp_path / "run", trainer, "handprop")
    err = _error(capsys, ["explain", "--checkpoint", str(path), "--data-root", str(tmp_path / "data")])
    assert "FashionMNIST files missing from" in err
    assert not (tmp_path / "data").exists()


def test_fashion_classes_are_named():
    from handprop.data import CLASS_NAMES
    from handprop.explain import explain_example
    from handprop.explain_text import format_explanation

    # Fashion-MNIST's classes, in its own order (Xiao et al. 2017), written out rather than read back
    fashion = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert list(CLASS_NAMES["fashion-mnist"]) == fashion
    net = Network([784, 4, 10], seed=0)
    x = np.random.default_rng(0).random(784)
    predicted = int(np.argmax(net.forward(x[None, :])[0]))  # the network's own answer, computed here
    assert predicted != 9  # so the label and the prediction name two different classes
    e = explain_example(net, x, 9)
    assert e.prediction == predicted
    text = format_explanation(e, net, "title", class_names=CLASS_NAMES["fashion-mnist"])
    assert f"Label 9 (Ankle boot), predicted {predicted} ({fashion[predicted]})" in text
    assert re.search(r"^\s+9 .* Ankle boot  ← label$", text, flags=re.M)
    assert re.search(rf"^\s+{predicted} .* {re.escape(fashion[predicted])}\b", text, flags=re.M)


def test_a_closed_pipe_ends_quietly(data_root, tmp_path):
    """``handprop explain | head -1``: no traceback and no 'Broken pipe' message once the reader has gone."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "handprop", "explain", "--data-root", str(data_root), "--no-study",
               "--out", str(tmp_path / "x.png")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # the reader leaves before anything is written
        err = process.stderr.read().decode()
        assert process.wait(timeout=300) == 141
    assert err == ""


def test_explain_reads_the_images_in_the_network_s_dtype(data_root, tmp_path, capsys, monkeypatch):
    """A float32 network's explanation never holds a float64 copy of the training set (760 → 330 MB
    peak for the video's network): the images come in the network's own dtype, and say the same."""
    import handprop.data

    asked = []
    real = handprop.data.load_dataset

    def recording(name, split, data_root=None, download=True, dtype="float64"):
        asked.append((split, dtype))
        return real(name, split, data_root, download, dtype)

    monkeypatch.setattr(handprop.data, "load_dataset", recording)
    dtype = "float32"
    path = save_checkpoint(tmp_path / "net.npz", Network([784, 8, 10], seed=3, dtype=dtype))
    assert main(["explain", "--checkpoint", str(path), "--data-root", str(data_root), "--split", "test", "--index", "5",
                 "--out", str(tmp_path / "e.png"), "--trials", "2", "--no-progress"]) == 0  # fmt: skip
    assert asked == [("test", dtype), ("train", dtype)]
    assert "4. One mini-batch" in capsys.readouterr().out

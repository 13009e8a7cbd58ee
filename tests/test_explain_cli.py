"""``handprop explain`` on real MNIST (fresh and trained networks) and its one-line errors."""

from __future__ import annotations

import re

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

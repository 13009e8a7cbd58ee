"""``handprop explain --html``: the page computes in a real browser what the engine computes, to 1e-10.

Each test writes a page, opens it in headless Chromium (Debian's ``chromium``) with ``--dump-dom``, reads
the JSON the page's script wrote into ``#handprop-state`` and compares every quantity with
``Network.forward``, ``Network.cost`` and ``Network.per_example_gradients`` of a float64 copy of the
network: max |page − engine| / max |engine| ≤ 1e-10 for each array. Without Chromium the tests skip
with the reason; under CI (env CI set) they fail instead, since .ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from handprop import Network
from handprop.checkpoint import save_checkpoint
from handprop.cli import main
from handprop.data import load_dataset
from handprop.explain import minibatch_study
from handprop.explain_html import MAX_BYTES, PageError, digits_budget, write_page

RTOL = 1e-10
STATE = re.compile(r'<script type="application/json" id="handprop-state">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; skipped with the reason where it is absent, a failure under CI."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no chromium on PATH (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must have it")
        print(message)
        pytest.skip(message)
    return path


def dump_dom(chromium: str, page: Path, fragment: str, tmp_path: Path) -> str:
    """The page's DOM after it loaded with ``#fragment``, as headless Chromium serialises it."""
    profile = tmp_path / f"profile-{abs(hash(fragment))}"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--dump-dom", f"{page.resolve().as_uri()}#{fragment}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert STATE.search(done.stdout), f"no #handprop-state in Chromium's DOM (rc {done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


def page_state(chromium: str, page: Path, fragment: str, tmp_path: Path, dom: str = "") -> dict:
    """The JSON the page's script wrote into #handprop-state (from ``dom``, or a fresh load)."""
    state = json.loads(STATE.search(dom or dump_dom(chromium, page, fragment, tmp_path)).group(1))
    assert "error" not in state, state["error"]
    return state


def _rel(ours, ref) -> float:
    """max |ours − ref| / max |ref| (exact equality required where ref is all zeros)."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    scale = np.abs(ref).max()
    return float(np.abs(ours - ref).max() / scale) if scale > 0 else float(np.abs(ours).max() and np.inf)


def check_state(state: dict, net: Network, x: np.ndarray, label: int) -> dict:
    """Every number of ``state`` against the engine for the float64 copy of ``net``; returns the errors."""
    net64 = Network.from_parameters(net.weights, net.biases, list(net.hidden), net.output, net.cost_name, "float64")
    xb, yb = x[None, :].astype(np.float64), np.array([label])
    fp = net64.feedforward(xb)
    g = net64.per_example_gradients(xb, yb)
    L = net64.num_layers
    assert state["label"] == label
    assert state["prediction"] == int(net64.predict(xb)[0])
    errors = {"cost": _rel(state["cost"], net64.cost(xb, yb)), "cost_x": _rel(state["cost"], g.cost[0]),
              "output": _rel(state["activations"][-1], net64.forward(xb)[0])}
    assert len(state["activations"]) == len(state["nabla_w"]) == len(state["nabla_b"]) == L
    for l in range(L):
        errors[f"a{l + 1}"] = _rel(state["activations"][l], fp.activations[l + 1][0])
        errors[f"nabla_w{l + 1}"] = _rel(state["nabla_w"][l], g.nabla_w[l][0])
        errors[f"nabla_b{l + 1}"] = _rel(state["nabla_b"][l], g.nabla_b[l][0])
    errors["nudges"] = _rel(state["nudges"], -g.nabla_a[-1][0])
    errors["previous_nudges"] = _rel(state["previous_nudges"], -g.nabla_a[-2][0])
    chain = state["chain"]  # the chain rule's product for one last-layer weight, against BP4
    errors["chain"] = _rel(chain["product"], g.nabla_w[-1][0][chain["neuron"], chain["k"]])
    # one SGD step on this digit's own gradient
    eta = state["sgd"]["learning_rate"]
    stepped = net64.copy()
    for W, b, gw, gb in zip(stepped.weights, stepped.biases, g.nabla_w, g.nabla_b):
        W -= eta * gw[0]
        b -= eta * gb[0]
    errors["sgd_cost"] = _rel(state["sgd"]["cost_after"], stepped.cost(xb, yb))
    errors["sgd_outputs"] = _rel(state["sgd"]["outputs_after"], stepped.forward(xb)[0])
    worst = max(errors, key=errors.get)
    assert errors[worst] <= RTOL, f"{worst}: relative error {errors[worst]:.3g} (all: {errors})"
    print(f"largest relative error page vs engine: {errors[worst]:.2g} ({worst})")
    return errors


def train_briefly(net: Network, X: np.ndarray, y: np.ndarray, steps: int = 30) -> Network:
    """A handful of SGD steps (batch 10, η = 3) on the images given: weights no longer random."""
    x, Y = net.prepare(X, y)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.choice(len(x), size=10, replace=False)
        nabla_w, nabla_b = net.backprop_prepared(x[idx], Y[idx])
        for W, b, gw, gb in zip(net.weights, net.biases, nabla_w, nabla_b):
            W -= 3.0 * gw
            b -= 3.0 * gb
    return net


@pytest.fixture(scope="module")
def mnist(data_root):
    """(X, y) to train on and (X_test, y_test) to embed: test images 5000–5999 stand in for training
    images, so the slow-to-load training split is not needed."""
    X_test, y_test = load_dataset("mnist", "test", data_root)
    return X_test[5000:6000], y_test[5000:6000], X_test, y_test


@pytest.fixture(scope="module")
def video_page(mnist, tmp_path_factory):
    """The video's 784-16-16-10 sigmoid network after 30 SGD steps, its page with a small study."""
    X, y, X_test, y_test = mnist
    net = train_briefly(Network([784, 16, 16, 10], seed=1), X, y)
    study = minibatch_study(net, X, y, sizes=(1, 10, 100, 1000), trials=2, seed=0)
    path = write_page(tmp_path_factory.mktemp("page") / "explain.html", net, X_test, y_test, study, title="test")
    return path, net, study


@pytest.mark.parametrize("index", [0, 149, 999])
def test_page_matches_engine_for_test_digits(chromium, video_page, mnist, index, tmp_path):
    path, net, _ = video_page
    X_test, y_test = mnist[2], mnist[3]
    state = page_state(chromium, path, f"index={index}", tmp_path)
    assert state["source"] == "test" and state["index"] == index
    assert np.array_equal(np.asarray(state["input"]), X_test[index])  # exactly the engine's k/255
    check_state(state, net, X_test[index], int(y_test[index]))


def test_page_matches_engine_for_a_drawn_digit(chromium, video_page, tmp_path):
    """A digit drawn through the page's own script (``#draw=`` 784 hex bytes, ``label=``), not a test image."""
    path, net, _ = video_page
    rng = np.random.default_rng(7)
    pixels = np.zeros((28, 28), dtype=np.uint8)
    for t in np.linspace(0, 1, 40):  # a slanted stroke with uneven ink, like a pen
        r, c = int(5 + 18 * t), int(9 + 10 * t)
        pixels[r, c : c + 3] = rng.integers(120, 256, size=3)
    drawn = pixels.ravel()
    state = page_state(chromium, path, f"draw={drawn.tobytes().hex()}&label=7&neuron=3&lr=0.5", tmp_path)
    assert state["source"] == "drawn" and state["index"] is None and state["neuron"] == 3
    assert state["sgd"]["learning_rate"] == 0.5
    assert np.array_equal(np.asarray(state["input"]), drawn / 255.0)  # the page's input is exactly k/255
    check_state(state, net, drawn / 255.0, 7)


def test_page_embeds_the_engines_minibatch_study(video_page):
    """The slider's cosines are the engine's ``minibatch_study`` numbers, embedded verbatim."""
    path, _, study = video_page
    data = json.loads(re.search(r'id="handprop-data">(.*?)</script>', path.read_text(), re.S).group(1))
    rows = data["study"]["rows"]
    assert [r["size"] for r in rows] == [1, 10, 100, 1000]
    assert [r["cosine_mean"] for r in rows] == [r.cosine_mean for r in study.rows]
    assert rows[-1]["cosine_mean"] == pytest.approx(1.0, abs=1e-12)  # the whole set is the full gradient


def test_page_is_self_contained(video_page):
    """One file, at most 2 MB, nothing fetched: no src/href attribute, no URL, a CSP that forbids loads."""
    path, _, _ = video_page
    text = path.read_text(encoding="utf-8")
    size = path.stat().st_size
    print(f"page size: {size:,} bytes")
    assert size <= MAX_BYTES
    assert not re.search(r"\b(src|href)\s*=", text)
    assert not re.search(r"https?://", text)
    assert "default-src 'none'" in text
    data = json.loads(re.search(r'id="handprop-data">(.*?)</script>', text, re.S).group(1))
    assert data["digits"]["count"] == 1000 and data["digits"]["labels"][149] is not None


CONFIGS = [  # other widths, activations and costs that handprop trains
    pytest.param([784, 20, 10], "tanh", "softmax", "cross_entropy", "float64", id="tanh-softmax-ce"),
    pytest.param([784, 12, 8, 10], "relu", "sigmoid", "cross_entropy", "float64", id="relu-sigmoid-ce"),
    pytest.param([784, 16, 16, 10], "sigmoid", "sigmoid", "quadratic", "float32", id="float32-video"),
]


@pytest.mark.parametrize("sizes,hidden,output,cost,dtype", CONFIGS)
def test_cli_page_for_other_checkpoints(chromium, mnist, data_root, tmp_path, capsys, sizes, hidden, output, cost, dtype):
    """``handprop explain --html`` on checkpoints of other shapes: the page still matches the engine."""
    X, y, X_test, y_test = mnist
    net = train_briefly(Network(sizes, hidden=hidden, output=output, cost=cost, dtype=dtype, seed=3), X, y, steps=10)
    checkpoint = save_checkpoint(tmp_path / "ckpt.npz", net)
    out = tmp_path / "page.html"
    rc = main(["explain", "--checkpoint", str(checkpoint), "--html", str(out), "--data-root", str(data_root),
               "--split", "test", "--index", "149", "--no-study", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    assert f"page: {out}" in capsys.readouterr().out
    state = page_state(chromium, out, "neuron=0", tmp_path)  # no index: the page opens at --index 149
    assert state["index"] == 149 and state["neuron"] == 0
    check_state(state, net, X_test[149], int(y_test[149]))


def test_non_784_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    checkpoint = save_checkpoint(tmp_path / "small.npz", Network([100, 16, 10], seed=0))
    rc = main(["explain", "--checkpoint", str(checkpoint), "--html", str(tmp_path / "p.html")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "784 inputs" in err and "has 100" in err, err
    assert not (tmp_path / "p.html").exists()


def test_page_to_a_folder_is_refused_in_one_line(data_root, tmp_path, capsys):
    rc = main(["explain", "--html", str(tmp_path), "--data-root", str(data_root), "--no-study"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "is a folder" in err, err


def test_an_existing_page_is_kept_unless_forced_and_checked_before_the_data(tmp_path, capsys):
    """The output rule (handprop/outputs.py): refused in one line before anything loads (no data root is
    even given), the old page untouched."""
    page = tmp_path / "explain.html"
    page.write_text("the learner's own page\n")
    rc = main(["explain", "--html", str(page), "--data-root", str(tmp_path / "no-data"), "--no-study"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "already exists" in err and "--force" in err, err
    assert page.read_text() == "the learner's own page\n"


def test_an_index_not_in_the_page_is_said_on_it(chromium, video_page, tmp_path):
    path, _, _ = video_page
    dom = dump_dom(chromium, path, "index=5000", tmp_path)
    assert page_state(chromium, path, "", tmp_path, dom)["index"] == 0  # the page stays on its first image …
    assert "test index 5000 is not in this page: it holds test images 0–999" in dom  # … and says why


def test_wide_networks_embed_fewer_digits_and_too_wide_ones_are_refused(mnist, tmp_path):
    """The 2 MB limit: 784-200-10 still holds test image 149; 784-300-10's parameters alone do not fit."""
    X_test, y_test = mnist[2], mnist[3]
    wide = Network([784, 200, 10], seed=0)
    assert 150 <= digits_budget(wide) < 1000
    path = write_page(tmp_path / "wide.html", wide, X_test, y_test, None)
    assert path.stat().st_size <= MAX_BYTES
    with pytest.raises(PageError, match="leave no room for test images"):
        write_page(tmp_path / "too-wide.html", Network([784, 300, 10], seed=0), X_test, y_test, None)
    assert not (tmp_path / "too-wide.html").exists()

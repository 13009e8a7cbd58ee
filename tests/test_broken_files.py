"""Every broken file is one clear line (issue 11, cases 1–11): damaged IDX files and damaged checkpoints.

The CLI runs in-process (``main``): an exception it did not translate would surface here as a failing
test, which is the traceback a user would have seen. Corrupt IDX files are built in ``tmp_path`` beside
symbolic links to the intact ``../shared/data`` files; only the damaged file is written.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handprop import Network
from handprop.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from handprop.cli import main
from handprop.data import DataFileError, check_idx_file
from handprop.runstate import load_run, save_run
from handprop.backends import make_backend
from handprop.training import Dataset, TrainConfig, Trainer

from train_helpers import synthetic_digits

RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def one_line_error(capsys, argv, code=2) -> str:
    """Run the CLI; it must exit with ``code`` and print exactly one line on stderr, no traceback."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------------------------------------
# data files (cases 1–7)


def original(name: str, data_root: Path) -> bytes:
    return (data_root / "MNIST" / "raw" / name).read_bytes()


def truncated_images(data_root):  # 1: the header promises 10,000 images
    return "t10k-images-idx3-ubyte", original("t10k-images-idx3-ubyte", data_root)[:100_016]


def gzip_magic_labels(data_root):  # 2: a .gz file saved under the IDX name
    return "t10k-labels-idx1-ubyte", b"\x1f\x8b\x08\x08" + original("t10k-labels-idx1-ubyte", data_root)[4:]


def int8_labels(data_root):  # 4: type byte 0x09 (signed bytes)
    data = bytearray(original("t10k-labels-idx1-ubyte", data_root))
    data[2] = 0x09
    return "t10k-labels-idx1-ubyte", bytes(data)


def empty_labels(data_root):  # 5
    return "t10k-labels-idx1-ubyte", b""


def label_200(data_root):  # 6
    data = bytearray(original("t10k-labels-idx1-ubyte", data_root))
    data[8 + 17] = 200
    return "t10k-labels-idx1-ubyte", bytes(data)


def fewer_labels(data_root):  # 7: a consistent labels file of 5,000 beside 10,000 images
    data = original("t10k-labels-idx1-ubyte", data_root)
    return "t10k-labels-idx1-ubyte", data[:4] + (5000).to_bytes(4, "big") + data[8 : 8 + 5000]


@pytest.fixture
def broken_root(data_root, tmp_path):
    """make(damage) -> a data root whose files link to the originals except the damaged one."""

    def make(damage):
        raw = tmp_path / "data" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in RAW:
            (raw / name).symlink_to(data_root / "MNIST" / "raw" / name)
        name, content = damage(data_root)
        (raw / name).unlink()
        (raw / name).write_bytes(content)
        return tmp_path / "data", raw / name

    return make


@pytest.fixture
def small_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "net.npz", Network([784, 10], seed=0))


@pytest.mark.parametrize(
    "damage, expected",
    [
        (truncated_images, r"is truncated: 100,016 bytes, but its header \(10,000 images\) needs 7,840,016"),
        (gzip_magic_labels, r"is not an IDX file \(its first bytes are 1f 8b 08 08, expected 00 00 08 01\); a compressed .gz"),
        (int8_labels, r"has IDX type byte 0x09; expected 0x08 \(unsigned bytes\)"),
        (empty_labels, r"is empty; expected an IDX file of labels"),
        (label_200, r"holds label 200 at position 17 \(1 label out of range\); expected class numbers 0–9"),
        (fewer_labels, r"holds 5,000 labels but t10k-images-idx3-ubyte holds 10,000 images; expected one label per image"),
    ],
    ids=["1-truncated", "2-magic", "4-type-byte", "5-empty-labels", "6-label-200", "7-label-count"],
)
def test_a_damaged_idx_file_is_named_with_what_was_expected(broken_root, small_checkpoint, capsys, damage, expected):
    root, damaged = broken_root(damage)
    err = one_line_error(capsys, ["evaluate", str(small_checkpoint), "--data-root", str(root)])
    assert err.startswith(f"handprop evaluate: error: {damaged} ")
    assert re.search(expected, err), err


def train_label_200(data_root):
    data = bytearray(original("train-labels-idx1-ubyte", data_root))
    data[8 + 17] = 200
    return "train-labels-idx1-ubyte", bytes(data)


def test_6_a_bad_label_is_blamed_on_the_file_not_on_arch(broken_root, capsys):
    root, damaged = broken_root(train_label_200)
    err = one_line_error(capsys, ["train", "--epochs", "1", "--data-root", str(root), "--no-progress"])
    assert f"{damaged} holds label 200 at position 17" in err and "--arch" not in err


def test_3_folders_where_the_files_should_be(tmp_path, small_checkpoint, capsys):
    raw = tmp_path / "data" / "MNIST" / "raw"
    for name in RAW:
        (raw / name).mkdir(parents=True)
    err = one_line_error(capsys, ["evaluate", str(small_checkpoint), "--data-root", str(tmp_path / "data")])
    assert f"{raw / RAW[0]} is not a regular file; expected the uncompressed IDX file {RAW[0]}" in err


def test_a_failed_download_leaves_no_empty_folders(tmp_path, small_checkpoint, capsys, monkeypatch):
    import urllib.error

    import torchvision

    def no_network(self):
        Path(self.raw_folder).mkdir(parents=True, exist_ok=True)  # as torchvision does before fetching
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", no_network)
    root = tmp_path / "new" / "data"
    err = one_line_error(capsys, ["evaluate", str(small_checkpoint), "--data-root", str(root)])
    assert "MNIST files missing from" in err and "train-images-idx3-ubyte" in err
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------------------------------------
# checkpoints (cases 8–11)


@pytest.fixture(scope="module")
def run_checkpoint(tmp_path_factory) -> Path:
    """A real one-epoch training checkpoint of a small network on synthetic digits."""
    config = TrainConfig(arch=(784, 8, 10), epochs=1, init="xavier", dtype="float64")
    x, y, xt, yt = synthetic_digits(n_train=100, n_test=20)
    trainer = Trainer(config, {"handprop": make_backend("handprop", config.build_network(), config)},
                      Dataset(x, y, xt, yt), config.generators()[1], progress=False)
    trainer.run()
    return save_run(tmp_path_factory.mktemp("run"), trainer, "handprop")


def rewritten(path: Path, out: Path, **changes) -> Path:
    """The checkpoint at ``path`` saved again with some of its meta's fields replaced."""
    checkpoint = read_checkpoint(path)
    meta = {**checkpoint.meta, **changes}
    return save_checkpoint(out, checkpoint.network, meta, checkpoint.extra)


def meta_edit(tmp_path, run_checkpoint, **changes) -> Path:
    return rewritten(run_checkpoint, tmp_path / "edited.npz", **changes)


def with_meta_text(tmp_path, run_checkpoint, text: str) -> Path:
    """The checkpoint with its ``meta`` entry replaced by arbitrary JSON text."""
    out = tmp_path / "edited.npz"
    with zipfile.ZipFile(run_checkpoint) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "meta.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.array(text))
                data = buffer.getvalue()
            target.writestr(name, data)
    return out


def truncated(tmp_path, run_checkpoint):
    data = run_checkpoint.read_bytes()
    return write(tmp_path / "cut.npz", data[: len(data) // 2])


def bit_flipped(tmp_path, run_checkpoint):
    data = bytearray(run_checkpoint.read_bytes())
    start = data.index(b"W0.npy") + 200  # inside W0's numbers
    data[start] ^= 0x10
    return write(tmp_path / "flipped.npz", bytes(data))


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


CHECKPOINT_CASES = {
    "8-truncated": (truncated, r"its zip archive is damaged \(BadZipFile"),
    "8-bit-flipped": (bit_flipped, r"its zip archive is damaged \(BadZipFile: Bad CRC-32 for file 'W0.npy'\)"),
    "9-random-bytes": (lambda t, c: write(t / "r.npz", np.random.default_rng(0).bytes(500)), r"it is not a .npz archive"),
    "9-text": (lambda t, c: write(t / "notes.txt", b"epoch 3, lr 3.0\n"), r"it is not a .npz archive"),
    "9-metrics.json": (lambda t, c: write(t / "metrics.json", json.dumps({"epochs": []}).encode()), r"it is not a .npz archive"),
    "10-meta-list": (lambda t, c: with_meta_text(t, c, "[1, 2]"), r"meta is a JSON list; expected a JSON object"),
    "11-arch": (
        lambda t, c: meta_edit(t, c, config={**read_checkpoint(c).meta["config"], "arch": [784, 30, 10]}),
        r"meta config describes a 784-30-10 float64 network .* but the weights are Network\(784-8-10",
    ),
    "11-epoch": (lambda t, c: meta_edit(t, c, epoch="one"), r"meta epoch must be a whole number of epochs ≥ 0, got 'one'"),
    "11-generator": (
        lambda t, c: meta_edit(t, c, shuffle_state={"bit_generator": "PCG64", "state": "scrambled"}),
        r"meta shuffle_state is not a state of NumPy's PCG64 generator",
    ),
    "11-config-list": (lambda t, c: meta_edit(t, c, config=[784, 8, 10]), r"meta config must be a JSON object of training settings, got a list"),
    "11-lr": (
        lambda t, c: meta_edit(t, c, config={**read_checkpoint(c).meta["config"], "lr": "fast"}),
        r"meta config: lr must be a positive finite number, got 'fast'",
    ),
}


@pytest.mark.parametrize("command", ["resume", "evaluate"])
@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_a_damaged_checkpoint_is_named_with_the_field_at_fault(tmp_path, run_checkpoint, capsys, case, command):
    make, expected = CHECKPOINT_CASES[case]
    path = make(tmp_path, run_checkpoint)
    argv = ["train", "--resume", str(path)] if command == "resume" else ["evaluate", str(path)]
    err = one_line_error(capsys, argv)
    assert err.startswith(f"handprop {argv[0]}: error: {path} is not a handprop checkpoint: ")
    assert re.search(expected, err), err


def test_the_run_checkpoint_itself_loads(run_checkpoint):
    state = load_run(run_checkpoint)
    assert state.epoch == 1 and state.config.arch == (784, 8, 10)


# ---------------------------------------------------------------------------------------------
# the loaders raise only the project's own errors, whatever the bytes


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64), ndim=st.sampled_from([1, 3]))
def test_idx_reader_on_random_bytes(tmp_path, data, ndim):
    path = tmp_path / "random-idx"
    path.write_bytes(data)
    try:
        dims = check_idx_file(path, ndim)
    except DataFileError as error:
        assert str(path) in str(error)
    else:
        assert len(data) == 4 + 4 * ndim + int(np.prod(dims))


def labels_idx(n: int) -> bytes:
    return b"\0\0\x08\x01" + n.to_bytes(4, "big") + bytes(range(10)) * (n // 10) + bytes(n % 10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 300), cut=st.integers(0, 400), flips=st.lists(st.tuples(st.integers(0, 20), st.integers(1, 255)), max_size=3))
def test_idx_reader_on_truncated_and_flipped_files(tmp_path, n, cut, flips):
    data = bytearray(labels_idx(n)[:cut])
    for at, mask in flips:
        if at < len(data):
            data[at] ^= mask
    path = tmp_path / "labels"
    path.write_bytes(bytes(data))
    try:
        dims = check_idx_file(path, 1)
    except DataFileError as error:
        assert str(path) in str(error)
    else:
        assert len(data) == 8 + dims[0]


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    path = save_checkpoint(tmp_path_factory.mktemp("ck") / "c.npz", Network([3, 2, 2], seed=0), {"epoch": 1},
                           {"note": np.arange(3.0)})
    return path.read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.one_of(st.none(), st.integers(0, 3000)),
    flips=st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 255)), max_size=4),
    prefix=st.binary(max_size=8),
)
def test_checkpoint_reader_on_damaged_files(tmp_path, checkpoint_bytes, cut, flips, prefix):
    data = bytearray(checkpoint_bytes if cut is None else checkpoint_bytes[:cut])
    for at, mask in flips:
        if at < len(data):
            data[at] ^= mask
    path = tmp_path / "c.npz"
    path.write_bytes(prefix + bytes(data))
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as error:
        assert str(error).startswith(f"{path} is not a handprop checkpoint: ")
    else:  # the damage missed everything that matters (a timestamp, say): the content is intact
        assert checkpoint.network.sizes == (3, 2, 2) and checkpoint.meta == {"epoch": 1}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_checkpoint_reader_on_random_bytes(tmp_path, data):
    path = tmp_path / "r.npz"
    path.write_bytes(b"PK\x03\x04" + data)  # past the first check, into the zip parser
    with pytest.raises(CheckpointError):
        read_checkpoint(path)

"""The compiled training steps (handprop/compiled.py) against the reference engine, step by step.

Every activation/cost pair the engine supports, L2 on and off: the two engines start from the same
parameters and step on the same batches; after every step their parameters must agree to round-off
(float64: ≤ 1e-12 of the largest entry of each array). The nets are tiny but their widths (17, 9,
4, and 33 after a layer of 9) and batches of 7 and 5 run every code path of the kernel: the 16- and
8-wide blocks, the padded remainder, and four rows at a time (``_combine4``) with rows left over. Numba
compiles the kernel once per dtype (cached on disk afterwards), so these tests share two compilations.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest

import numba  # noqa: E402,F401  (a dependency in pyproject.toml: a broken install fails here, it does not skip)

from handprop.compiled import TABLE_LIMIT, CompiledBackend, encode_inputs, sparse_rows  # noqa: E402
from handprop.network import Network  # noqa: E402
from train_helpers import synthetic_mnist, torch_one_thread  # noqa: E402,F401  (fixtures)
from handprop.backends import handprop_backend, make_backend  # noqa: E402
from handprop.numpy_backend import HandpropBackend  # noqa: E402
from handprop.training import TrainConfig, TrainingDiverged, train_epoch  # noqa: E402

OUTPUT_COSTS = [(o, "quadratic") for o in ("sigmoid", "tanh", "relu", "identity", "softmax")] + [
    ("sigmoid", "cross_entropy"),
    ("softmax", "cross_entropy"),
]
HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
# float32 steps of the two engines round differently; after 24 steps of lr 0.1 the largest
# difference seen was 3e-6 of the largest parameter
RTOL = {"float64": 1e-12, "float32": 3e-5}


def _data(n: int = 48, n_in: int = 20, n_out: int = 4, seed: int = 0, levels: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs, 60% zeros; with ``levels`` they take only the values k / levels, like MNIST's k / 255."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, n_in))  # (n, in)
    if levels:
        x = np.round(x * levels) / levels
    x[x < 0.6] = 0  # mostly zeros, like MNIST, so the sparse first layer matters
    y = np.eye(n_out)[rng.integers(0, n_out, n)]  # (n, out) one-hot
    return x, y


def _lockstep(net: Network, l2: float, batch: int = 7, lr: float = 0.1, epochs: int = 2, levels: int = 0) -> float:
    """Step both engines on the same batches; the largest relative parameter difference seen."""
    x, y = _data(n_in=net.sizes[0], n_out=net.sizes[-1], levels=levels)
    reference, compiled = HandpropBackend(net.copy(), lr, l2), CompiledBackend(net.copy(), lr, l2)
    rng = np.random.default_rng(1)
    worst = 0.0
    for backend in (reference, compiled):
        backend.load_training_data(x, y)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for backend in (reference, compiled):
            backend.begin_epoch(order)
        for start in range(0, len(x), batch):
            stop = min(start + batch, len(x))
            cost_ref, cost_compiled = reference.step(start, stop), compiled.step(start, stop)
            assert cost_compiled == pytest.approx(cost_ref, rel=RTOL[net.dtype.name], abs=1e-30)
            for p, q in zip(reference.net.weights + reference.net.biases, compiled.net.weights + compiled.net.biases):
                worst = max(worst, float(np.abs(p - q).max() / np.abs(p).max()))
    return worst


@pytest.mark.parametrize("l2", [0.0, 4.0])
@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_step_matches_the_reference_float64(hidden: str, output: str, cost: str, l2: float) -> None:
    net = Network([20, 17, 9, 4], hidden, output, cost, init="xavier", dtype="float64", seed=3)
    assert _lockstep(net, l2) <= RTOL["float64"]


@pytest.mark.parametrize("output,cost", OUTPUT_COSTS)
def test_every_step_matches_the_reference_float32(output: str, cost: str) -> None:
    net = Network([20, 17, 9, 4], "sigmoid", output, cost, init="xavier", dtype="float32", seed=3)
    assert _lockstep(net, 4.0) <= RTOL["float32"]


@pytest.mark.parametrize("sizes,hidden", [([20, 4], []), ([20, 33, 4], ["relu"]), ([20, 9, 33, 4], ["tanh", "sigmoid"]), ([20, 16, 8, 5, 4], ["tanh", "relu", "sigmoid"])])
def test_other_depths_and_mixed_hidden_layers(sizes: list[int], hidden: list[str]) -> None:
    net = Network(sizes, hidden, "softmax", "cross_entropy", init="xavier", dtype="float64", seed=5)
    assert _lockstep(net, 1.0, batch=5) <= RTOL["float64"]


def test_a_window_of_batches_equals_one_step_at_a_time() -> None:
    """``steps`` over many batches is exactly the same arithmetic as one ``step`` per batch."""
    net = Network([20, 17, 9, 4], "sigmoid", "sigmoid", "quadratic", dtype="float64", seed=0)
    x, y = _data()
    a, b = CompiledBackend(net.copy(), 0.5, 2.0), CompiledBackend(net.copy(), 0.5, 2.0)
    order = np.random.default_rng(2).permutation(len(x))
    for backend in (a, b):
        backend.load_training_data(x, y)
        backend.begin_epoch(order)
    total = a.steps(0, len(x), 10)  # batches of 10, the last one 8
    one_by_one = sum(b.step(start, min(start + 10, len(x))) for start in range(0, len(x), 10))
    assert total == pytest.approx(one_by_one, rel=1e-15)
    for p, q in zip(a.parameters()[0] + a.parameters()[1], b.parameters()[0] + b.parameters()[1]):
        np.testing.assert_array_equal(p, q)


def test_network_views_follow_the_compiled_parameters() -> None:
    """The backend's Network evaluates exactly what the compiled steps trained, and restores write through."""
    net = Network([20, 17, 4], "relu", "softmax", "cross_entropy", dtype="float64", seed=0)
    x, y = _data()
    backend = CompiledBackend(net.copy(), 0.3)
    backend.load_training_data(x, y)
    backend.begin_epoch(np.arange(len(x)))
    saved = backend.snapshot()
    backend.steps(0, len(x), 8)
    assert not np.array_equal(backend.parameters()[0][0], saved[0][0])
    assert backend.parameters()[0][0].shape == (17, 20)
    backend.restore(saved)
    np.testing.assert_array_equal(backend.net.weights[0], saved[0][0])
    cost_after_restore = backend.steps(0, 8, 8)
    reference = Network.from_parameters(*saved, hidden="relu", output="softmax", cost="cross_entropy")
    assert cost_after_restore == pytest.approx(reference.cost(x[:8], y[:8]), rel=1e-12)


def test_train_epoch_with_the_compiled_engine_matches_numpy_and_stops_on_nan() -> None:
    config = TrainConfig(arch=(20, 17, 4), batch_size=3, lr=0.2, dtype="float64")
    x, y = _data(n=160)
    order = np.random.default_rng(0).permutation(len(x))
    results = []
    for engine in ("compiled", "numpy"):
        backend = make_backend("handprop", config.build_network(), config, engine=engine)
        backend.load_training_data(x, y)
        train_epoch(backend, order, config.batch_size, epoch=1, progress=False)  # 54 batches: two windows
        results.append(backend.parameters())
    assert type(make_backend("handprop", config.build_network(), config)).__name__ == "CompiledBackend"
    for p, q in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-12 * np.abs(q).max())
    wild = TrainConfig(arch=(20, 17, 4), hidden=("identity",), output="identity", lr=50.0, dtype="float64")
    diverging = make_backend("handprop", wild.build_network(), wild)
    diverging.load_training_data(x, y)
    with pytest.raises(TrainingDiverged, match="batch"):
        train_epoch(diverging, order, 3, epoch=1, progress=False)
    assert diverging.parameters_finite()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output,cost", [("sigmoid", "quadratic"), ("softmax", "cross_entropy")])
def test_inputs_with_few_distinct_values_step_like_the_reference(dtype: str, output: str, cost: str) -> None:
    """Inputs like MNIST's (k / 255) go through the table of distinct values (4-byte codes)."""
    net = Network([20, 17, 9, 4], "sigmoid", output, cost, init="xavier", dtype=dtype, seed=4)
    x, _ = _data(levels=255)
    assert len(encode_inputs(x)[2]) <= TABLE_LIMIT
    assert _lockstep(net, 1.0, levels=255) <= RTOL[dtype]


def _decoded(x: np.ndarray) -> np.ndarray:
    indptr, codes, table, bits = encode_inputs(x)
    out = np.zeros_like(x)
    for r in range(x.shape[0]):
        for k in range(indptr[r], indptr[r + 1]):
            out[r, int(codes[k]) >> bits] = table[int(codes[k]) & ((1 << bits) - 1)]
    return out


@pytest.mark.parametrize("levels,table_is_distinct", [(255, True), (3, True), (0, False)])
def test_encoded_inputs_decode_to_exactly_the_inputs(levels: int, table_is_distinct: bool) -> None:
    x, _ = _data(n=200, n_in=30, levels=levels)
    indptr, codes, table, bits = encode_inputs(x)
    assert codes.dtype == np.uint32
    assert (len(table) <= TABLE_LIMIT) == table_is_distinct
    np.testing.assert_array_equal(_decoded(x), x)
    assert indptr[-1] == np.count_nonzero(x)


def test_a_value_the_sample_missed_falls_back_to_a_table_entry_per_value() -> None:
    """The table is built from a sample of the values; one value outside the sample must still decode."""
    x = np.full((70_000, 2), 0.5)  # 140,000 values, sampled every other one
    x[12_345, 1] = 0.25  # never sampled (odd position)
    indptr, codes, table, bits = encode_inputs(x)
    assert len(table) == 2 and set(table.tolist()) == {0.25, 0.5}
    np.testing.assert_array_equal(_decoded(x[12_340:12_350]), x[12_340:12_350])
    x = np.arange(1.0, 2 * 300 + 1).reshape(300, 2)  # 600 distinct values: a table entry per value
    indptr, codes, table, bits = encode_inputs(x)
    assert len(table) == 600
    np.testing.assert_array_equal(_decoded(x), x)


def _general_codes(x: np.ndarray) -> tuple:
    """The codes of the general path: the list of non-zeros first, then the table of pixel values."""
    from handprop.compiled import _table_codes

    indptr, indices, values = sparse_rows(x)
    table = (np.arange(256, dtype=np.float64) / 255.0).astype(x.dtype)
    codes, bits = _table_codes(x.shape[1], indices, values, table)
    return indptr, codes, table, bits


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pixel_values_are_encoded_in_one_pass_exactly_as_the_general_path(dtype: str) -> None:
    """k/255 values (MNIST's) take the one-pass path; its codes equal the general path's, bit for bit."""
    x, _ = _data(n=300, n_in=40, levels=255)
    x = x.astype(dtype)
    x[5] = 0  # an empty row
    x[7, :] = (np.arange(40) % 256 / 255.0).astype(dtype)  # every small level, 0 and 1/255 among them
    fast = encode_inputs(x)
    for got, wanted in zip(fast, _general_codes(x)):
        np.testing.assert_array_equal(got, wanted)
    assert fast[1].dtype == np.uint32 and fast[3] == 8 and len(fast[2]) == 256
    np.testing.assert_array_equal(_decoded(x), x)


def test_a_value_off_the_pixel_table_falls_back_to_the_general_path() -> None:
    from handprop.compiled import _pixel_codes

    x, _ = _data(n=600, n_in=40, levels=255)  # the sample takes every other row
    pixels = (np.arange(256) / 255.0).astype(x.dtype)
    assert _pixel_codes(x, pixels) is not None
    x[599, 3] = 0.123456  # one value no pixel has, in a row the sample skips: the one pass finds it
    assert _pixel_codes(x, pixels) is None
    for value in (-1 / 255, 2.0, 1e-9):
        y = x.copy()
        y[599, 3] = value
        assert _pixel_codes(y, pixels) is None, value
        np.testing.assert_array_equal(_decoded(y), y)  # still exact, through the general path
    assert _pixel_codes(np.zeros((3, 4)), pixels) is None  # nothing to look at: the general path


def test_sparse_rows_lists_each_rows_nonzeros() -> None:
    x = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]])
    indptr, indices, values = sparse_rows(x)
    assert indptr.tolist() == [0, 1, 1, 3]
    assert indices.tolist() == [1, 0, 2]
    assert values.tolist() == [2.0, 1.0, 3.0]


def test_without_numba_the_numpy_engine_trains_and_says_so_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import handprop.backends as backends

    monkeypatch.setitem(sys.modules, "handprop.compiled", None)  # the import fails as if Numba were missing
    monkeypatch.setattr(backends, "_compiled_unavailable_logged", False)
    net = Network([20, 4], dtype="float64", seed=0)
    with caplog.at_level(logging.WARNING, logger="handprop.backends"):
        first = handprop_backend(net.copy(), 0.1)
        second = handprop_backend(net.copy(), 0.1)
    assert type(first) is HandpropBackend and type(second) is HandpropBackend
    assert len([r for r in caplog.records if "compiled engine is unavailable" in r.getMessage()]) == 1


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown engine 'fast'; expected one of: compiled, numpy"):
        handprop_backend(Network([4, 2]), 0.1, engine="fast")


def test_importing_handprop_does_not_import_numba() -> None:
    code = "import sys, handprop, handprop.training; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_engines_agree_and_the_cli_takes_engine_and_threads(synthetic_mnist, torch_one_thread, capsys):
    import handprop
    from handprop.cli import main

    settings = {"arch": "784-16-10", "epochs": 1, "dtype": "float64", "lr": 0.5, "progress": False}
    compiled = handprop.train(engine="compiled", **settings)
    numpy_run = handprop.train(engine="numpy", **settings)
    assert compiled.final().test_accuracy == numpy_run.final().test_accuracy
    for p, q in zip(compiled.network.weights, numpy_run.network.weights):
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-10 * np.abs(q).max())
    assert main(["train", "--arch", "784-16-10", "--epochs", "1", "--engine", "numpy", "--no-progress"]) == 0
    assert "epoch   1/1" in capsys.readouterr().out
    assert main(["train", "--arch", "784-16-10", "--epochs", "1", "--threads", "0", "--no-progress"]) != 0
    assert "threads must be a positive integer, got 0" in capsys.readouterr().err


def test_torch_threads_one_for_small_networks_unless_asked(torch_one_thread):
    import torch

    config = TrainConfig(arch=(20, 17, 4), dtype="float64")
    torch.set_num_threads(2)
    make_backend("torch", config.build_network(), config)
    assert torch.get_num_threads() == 1  # 357 parameters: one thread
    make_backend("torch", config.build_network(), config, threads=2)
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        make_backend("torch", config.build_network(), config, threads=0)


def test_the_first_steps_of_a_process_say_the_compiler_may_run() -> None:
    """The first call in a process may compile for ~25 s (nothing cached yet): it logs a line first."""
    code = (
        "import logging, numpy as np; logging.basicConfig(level=logging.INFO)\n"
        "from handprop.compiled import CompiledBackend\nfrom handprop.network import Network\n"
        "b = CompiledBackend(Network([4, 3, 2], dtype='float64', seed=0), 0.1)\n"
        "b.load_training_data(np.eye(4), np.eye(2)[[0, 1, 0, 1]]); b.begin_epoch(np.arange(4))\n"
        "b.steps(0, 4, 2); b.steps(0, 4, 2)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.count("loading the compiled training steps") == 1, out.stderr

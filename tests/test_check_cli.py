"""``handprop check``: the table, the exit codes, one-line errors."""

from __future__ import annotations

import pytest

from handprop.activations import ACTIVATIONS, Activation
from handprop.cli import main

ROWS = ["C", "dC/da0", "dC/dW1", "dC/db1", "dC/dz1", "dC/da1", "dC/dW3", "dC/da3"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "flags",
    [
        ["--hidden", "sigmoid", "--output", "sigmoid", "--cost", "quadratic"],  # the video's network
        ["--hidden", "relu", "--output", "softmax", "--cost", "cross_entropy", "--init", "he"],
    ],
    ids=["sigmoid-quadratic", "relu-softmax-cross_entropy"],
)
def test_784_16_16_10_all_pass(capsys, flags, dtype):
    code = main(["check", "--arch", "784-16-16-10", "--dtype", dtype, "--batch-size", "4", *flags])
    out = capsys.readouterr().out
    assert code == 0, out
    for name in ROWS:
        assert any(line.split()[:1] == [name] and line.rstrip().endswith("ok") for line in out.splitlines()), name
    assert "FAIL" not in out and "gradcheck" in out and "all 14 tensors agree" in out


def test_small_network_runs_full_gradcheck(capsys):
    code = main(["check", "--arch", "5-4-3", "--hidden", "tanh", "--output", "softmax", "--cost", "cross_entropy", "--batch-size", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "full (every entry): ok" in out


def test_mismatch_exits_1_and_names_the_tensor(capsys, monkeypatch):
    good = ACTIVATIONS["tanh"]
    monkeypatch.setitem(ACTIVATIONS, "tanh", Activation("tanh", good.forward, lambda z, a: (1 - a * a) * 1.001))
    code = main(["check", "--arch", "5-4-3", "--hidden", "tanh", "--output", "identity", "--batch-size", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISMATCH: tensors out of tolerance: dC/da0, dC/dW1, dC/db1, dC/dz1" in out
    assert "gradcheck: FAIL" in out


def test_real_mnist_batch(capsys, data_root):
    code = main(["check", "--data-root", str(data_root), "--batch-size", "3", "--gradcheck", "off"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "the first 3 MNIST test images" in out


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--arch", "784-x-10"], "--arch must be layer widths joined by '-'"),
        (["--arch", "784"], "--arch needs at least two positive widths"),
        (["--hidden", "swish"], "unknown hidden activation 'swish'"),
        (["--output", "identity", "--cost", "cross_entropy"], "needs an output activation producing probabilities"),
        (["--dtype", "float16"], "unsupported dtype 'float16'"),
        (["--batch-size", "0"], "--batch-size must be a positive integer, got '0'"),
        (["--batch-size", "x"], "--batch-size must be a positive integer, got 'x'"),
        (["--seed", "-1"], "--seed must be a non-negative integer, got '-1'"),
        (["--gradcheck", "maybe"], "--gradcheck must be one of auto, full, fast, off"),
        (["--tolerance", "abc"], "--tolerance must be a positive number, got 'abc'"),
        (["--init", "zeros"], "unknown init 'zeros'"),
        (["--tolerance", "-1"], "--tolerance must be a positive number, got '-1'"),
        (["--device", "nonsense"], "--device 'nonsense' is not available"),
        # a FILE's flags without a FILE would be ignored silently: refused instead
        (["--save-failing", "out"], "--save-failing is for checking a FILE of your own"),
        (["--function", "backprop"], "--function is for checking a FILE of your own"),
        (["--option", "hidden=relu"], "--option is for checking a FILE of your own"),
        (["--assignment", "layers"], "--assignment is for checking a FILE of your own"),
        (["--cases", "3"], "--cases is for checking a FILE of your own"),
        (["--timeout", "60"], "--timeout is for checking a FILE of your own"),
    ],
)
def test_bad_flags_one_line_exit_2(capsys, flags, message):
    code = main(["check", "--arch", "5-3", *flags] if flags[0] != "--arch" else ["check", *flags])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("handprop check: error: ") and message in lines[0]


def test_missing_mnist_is_one_line(capsys, tmp_path):
    assert main(["check", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "MNIST files missing from" in err[0]


def test_data_root_needs_the_mnist_shape(capsys, tmp_path):
    assert main(["check", "--arch", "5-3", "--data-root", str(tmp_path)]) == 2
    assert "--data-root gives MNIST (784 inputs, 10 classes)" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--cases", "5"], ["--timeout", "10"], ["--assignment", "network"]])
def test_a_file_flag_without_a_file_is_refused_even_at_its_default_value(flags, capsys):
    """`handprop check --cases 5` checks the engine, not a file: the flag must not be silently ignored."""
    from handprop.cli import main

    assert main(["check", *flags]) == 2
    assert f"{flags[0]} is for checking a FILE of your own" in capsys.readouterr().err

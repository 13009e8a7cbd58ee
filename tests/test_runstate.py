"""Atomic writes of checkpoints and metrics.json, and reading a run back."""

from __future__ import annotations

import json

import numpy as np
import pytest

import handprop.checkpoint
import handprop.runstate
from handprop import Network
from handprop.checkpoint import load_checkpoint, load_checkpoint_extra, save_checkpoint
from handprop.runstate import load_run, write_json_atomic


class Crash(RuntimeError):
    pass


def test_checkpoint_write_killed_midway_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    old = Network([4, 3, 2], seed=0)
    save_checkpoint(path, old, {"epoch": 1})

    def savez_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")  # some bytes reach the disk, then the process dies
        raise Crash("killed mid-write")

    monkeypatch.setattr(handprop.checkpoint.np, "savez", savez_then_crash)
    with pytest.raises(Crash):
        save_checkpoint(path, Network([4, 3, 2], seed=1), {"epoch": 2})
    net, meta = load_checkpoint(path)
    assert meta == {"epoch": 1}
    for p, q in zip(net.weights + net.biases, old.weights + old.biases):
        np.testing.assert_array_equal(p, q)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz"]  # no temporary left


def test_metrics_write_killed_midway_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"epochs": [1]})

    def dump_then_crash(data, f, **kwargs):
        f.write('{"epochs": [1, 2')
        raise Crash("killed mid-write")

    monkeypatch.setattr(handprop.runstate.json, "dump", dump_then_crash)
    with pytest.raises(Crash):
        write_json_atomic(path, {"epochs": [1, 2]})
    assert json.loads(path.read_text()) == {"epochs": [1]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_extra_arrays_round_trip(tmp_path):
    path = tmp_path / "c.npz"
    extra = {"torch.W0": np.arange(6.0).reshape(2, 3), "torch.b0": np.ones(2)}
    save_checkpoint(path, Network([3, 2], seed=0), {}, extra)
    loaded = load_checkpoint_extra(path)
    assert sorted(loaded) == sorted(extra)
    for name in extra:
        np.testing.assert_array_equal(loaded[name], extra[name])
    assert load_checkpoint(path)[0].sizes == (3, 2)


def test_resume_needs_a_training_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "plain.npz", Network([4, 2], seed=0), {"note": "not from train"})
    with pytest.raises(ValueError, match="no training state"):
        load_run(path)

"""The SGD loop on synthetic data: learning, the update rule, lockstep, the NaN stop, resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from handprop.runstate import load_run, save_run
from handprop.backends import make_backend
from handprop.numpy_backend import HandpropBackend
from handprop.training import (
    LOCKSTEP_TOLERANCE,
    Dataset,
    LockstepError,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    batch_bounds,
    lockstep_epoch,
    max_abs_param_diff,
    train_epoch,
)

from train_helpers import synthetic_digits, torch_one_thread  # noqa: F401  (fixture)

SMALL = dict(arch=(784, 16, 10), init="xavier", epochs=3, batch_size=10, lr=3.0, dtype="float64")


def make_trainer(config: TrainConfig, backend_names=("handprop",), data=None) -> Trainer:
    data = data or synthetic_digits()
    initial = config.build_network()
    backends = {name: make_backend(name, initial, config) for name in backend_names}
    _, rng = config.generators()
    return Trainer(config, backends, Dataset(*data), rng, progress=False)


def test_loop_learns_synthetic_digits():
    trainer = make_trainer(TrainConfig(**SMALL))
    _, before = trainer.backends["handprop"].evaluate(trainer.data.x_test, np.eye(10)[trainer.data.y_test])
    assert (before == trainer.data.y_test).mean() < 0.5  # untrained: near chance
    trainer.run()
    history = trainer.history["handprop"]
    assert [m.epoch for m in history] == [1, 2, 3]
    assert history[-1].train_cost < history[0].train_cost
    assert history[-1].test_accuracy >= 0.9
    assert all(m.train_seconds > 0 for m in history)


@pytest.mark.parametrize("l2", [0.0, 5.0])
def test_step_is_sgd_with_l2_weight_decay(l2, torch_one_thread):
    """W ← (1 − ηλ/n) W − η ∂C/∂W and b ← b − η ∂C/∂b on the batch's mean cost."""
    config = TrainConfig(**{**SMALL, "l2": l2})
    x, labels, _, _ = synthetic_digits(n_train=50)
    net = config.build_network()
    backend = HandpropBackend(net.copy(), config.lr, config.l2)
    backend.load_training_data(x, labels)
    order = np.arange(50)[::-1].copy()
    backend.begin_epoch(order)
    backend.step(5, 15)
    # ∂C/∂W from autograd (the twin), not from the engine's own gradient path that the step uses
    from verify.model import TwinNetwork, twin_gradients

    auto = twin_gradients(TwinNetwork.from_network(net), x[order[5:15]], labels[order[5:15]], net)
    nabla_w, nabla_b = auto.nabla_w, auto.nabla_b
    decay = 1 - config.lr * l2 / 50
    for W, W0, nw in zip(backend.net.weights, net.weights, nabla_w):
        np.testing.assert_allclose(W, decay * W0 - config.lr * nw, rtol=1e-13, atol=1e-13)
    for b, b0, nb in zip(backend.net.biases, net.biases, nabla_b):
        np.testing.assert_allclose(b, b0 - config.lr * nb, rtol=1e-13, atol=1e-13)


def test_batches_cover_every_example_once():
    bounds = batch_bounds(25, 10)
    assert bounds == [(0, 10), (10, 20), (20, 25)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_both_backends_in_lockstep(dtype, torch_one_thread):
    config = TrainConfig(**{**SMALL, "dtype": dtype, "epochs": 2, "l2": 1.0})
    trainer = make_trainer(config, ("handprop", "torch"))
    trainer.run()
    diffs = [entry["max_abs_param_diff"] for entry in trainer.lockstep]
    assert len(diffs) == 2
    assert max(diffs) <= (1e-13 if dtype == "float64" else 1e-5)
    h, t = trainer.history["handprop"], trainer.history["torch"]
    # per-step resync: both evaluate the same parameters, so the metrics agree to round-off
    assert [m.test_accuracy for m in h] == [m.test_accuracy for m in t]
    rel = 1e-12 if dtype == "float64" else 1e-5
    assert [m.train_cost for m in h] == pytest.approx([m.train_cost for m in t], rel=rel)


class WrongLearningRate(HandpropBackend):
    """A backend whose maths differs slightly: the lockstep must notice on the very first batch."""

    name = "wrong"


def test_lockstep_catches_a_different_update():
    config = TrainConfig(**SMALL)
    x, labels, _, _ = synthetic_digits()
    y = np.eye(10)[labels]
    net = config.build_network()
    good, bad = HandpropBackend(net.copy(), 3.0), WrongLearningRate(net.copy(), 3.0 * (1 + 1e-6))
    for backend in (good, bad):
        backend.load_training_data(x, y)
    # relative to the step the difference is the learning rate's 1e-6: far beyond round-off
    with pytest.raises(LockstepError, match=r"epoch 1, batch 1 of 40: W\d differs by \S+ on a step of size \S+ \(relative 1e-06\)"):
        lockstep_epoch([good, bad], np.arange(len(x)), 10, 1, LOCKSTEP_TOLERANCE["float64"])


def diverging_config() -> TrainConfig:
    # ReLU units and a linear output under a huge learning rate overflow within a few batches
    return TrainConfig(arch=(784, 32, 10), hidden=("relu",), output="identity", cost="quadratic",
                       init="he", batch_size=10, lr=50.0, dtype="float64", epochs=1)


def first_nonfinite_batch(config: TrainConfig, x, y, order) -> int:
    """Independent replay: the 1-based index of the first batch whose cost is not finite."""
    backend = HandpropBackend(config.build_network(), config.lr, config.l2)
    backend.load_training_data(x, y)
    backend.begin_epoch(order)
    with np.errstate(all="ignore"):
        for k, (start, stop) in enumerate(batch_bounds(len(order), config.batch_size), start=1):
            if not np.isfinite(backend.batch_cost(start, stop)):
                return k
            backend.step(start, stop)
    raise AssertionError("the run did not diverge")


@pytest.mark.parametrize("backend_name", ["handprop", "torch"])
def test_nan_cost_stops_training_and_names_the_batch(backend_name, torch_one_thread):
    config = diverging_config()
    x, labels, _, _ = synthetic_digits(n_train=1000)
    y = np.eye(10)[labels]
    order = np.random.default_rng(1).permutation(len(x))
    expected = first_nonfinite_batch(config, x, y, order)
    backend = make_backend(backend_name, config.build_network(), config)
    backend.load_training_data(x, y)
    with pytest.raises(TrainingDiverged, match=r"smaller --lr") as info:
        train_epoch(backend, order, config.batch_size, epoch=1, progress=False)
    assert f"epoch 1, batch {expected} of 100" in str(info.value)
    assert backend.parameters_finite()  # left at the last finite state, not at garbage


def test_resume_equals_uninterrupted(tmp_path):
    """2 epochs, save, load, 2 more == 4 epochs in one go, exactly (parameters and metrics)."""
    config = TrainConfig(**{**SMALL, "epochs": 4, "l2": 2.0})
    data = synthetic_digits()
    straight = make_trainer(config, data=data)
    straight.run()

    first = make_trainer(dataclasses.replace(config, epochs=2), data=data)
    first.run()
    save_run(tmp_path, first, "handprop")
    state = load_run(tmp_path / "checkpoint.npz")
    assert state.epoch == 2 and state.config == first.config
    net = config.build_network()
    net.set_parameters(*state.parameters["handprop"])
    resumed = Trainer(config, {"handprop": make_backend("handprop", net, config)}, Dataset(*data),
                      state.shuffle_rng, start_epoch=state.epoch, history=state.history, progress=False)
    resumed.run()

    assert max_abs_param_diff(straight.backends["handprop"].parameters(), resumed.backends["handprop"].parameters()) == 0.0
    strip = lambda history: [dataclasses.replace(m, train_seconds=0.0) for m in history]  # noqa: E731
    assert strip(resumed.history["handprop"]) == strip(straight.history["handprop"])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"arch": (784,)}, "arch"),
        ({"hidden": ("softmax",)}, "hidden activation"),
        ({"arch": (784, 16, 10), "hidden": ("relu", "relu")}, "hidden layers"),
        ({"cost": "hinge"}, "unknown cost"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"l2": -0.1}, "l2"),
        ({"dtype": "float16"}, "dtype"),
    ],
)
def test_config_rejects_bad_values(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


def test_config_round_trips_through_dict():
    config = TrainConfig(arch=(784, 30, 20, 10), hidden=("relu", "tanh"), l2=0.5)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.hidden_per_layer == ["relu", "tanh"]
    assert TrainConfig().hidden_per_layer == ["sigmoid", "sigmoid"]


def test_training_and_cli_do_not_import_torch():
    """The engine's training loop and the command line parser leave torch (and matplotlib) alone."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, handprop, handprop.training, handprop.runstate, handprop.cli; handprop.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'torchvision', 'matplotlib') if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert result.stdout.strip() == "[]"

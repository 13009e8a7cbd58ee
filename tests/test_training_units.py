"""training.py piece by piece, with a scripted backend: the checks of a run's settings, metrics.json's
layout, the progress bar, the epoch's clock, the divergence replay and lockstep's edge cases.

Each test here was written against a mutant of training.py that the loop's own tests let through
(tools/mutation.py training; docs/testing.md lists them)."""

from __future__ import annotations

import logging
import math
import types

import numpy as np
import pytest
import tqdm

from handprop import training
from handprop.training import (
    LOCKSTEP_TOLERANCE,
    Dataset,
    EpochMetrics,
    TrainConfig,
    Trainer,
    TrainingDiverged,
    _one_hot,
    lockstep_epoch,
    parse_arch,
    run_metrics,
    train_epoch,
)

from train_helpers import synthetic_digits


class Scripted:
    """A backend of one weight and one bias, both 0 at first; each step adds ``delta`` to both and
    costs 1.0, except where the script says otherwise (batch indices count from 0)."""

    def __init__(self, name="handprop", batch_size=10, delta=1.0, nan_cost_at=None, inf_parameters_at=None,
                 window_cost=None, step_cost=None, nan_from_weight=None):  # fmt: skip
        self.name, self.batch_size, self.delta = name, batch_size, delta
        self.nan_from_weight = nan_from_weight  # the cost is NaN once the weight has reached this
        self.nan_cost_at, self.inf_parameters_at = nan_cost_at, inf_parameters_at
        self.window_cost, self.step_cost = window_cost, step_cost
        self.W, self.b = [np.zeros((1, 1))], [np.zeros(1)]
        self.restored = []

    def load_training_data(self, x, y):
        pass

    def begin_epoch(self, order):
        self.order = order

    def _step(self, start):
        k = start // self.batch_size
        cost_before = self.batch_cost(start, start + self.batch_size)
        if k == self.inf_parameters_at:
            self.W, self.b = [np.full((1, 1), np.inf)], [np.full(1, np.inf)]
        else:
            self.W, self.b = [self.W[0] + self.delta], [self.b[0] + self.delta]
        if math.isnan(cost_before):
            return cost_before
        return 1.0 if self.step_cost is None else self.step_cost

    def step(self, start, stop):
        return self._step(start)

    def steps(self, start, stop, batch_size):
        total = sum(self._step(s) for s in range(start, stop, batch_size))
        return total if self.window_cost is None else self.window_cost

    def batch_cost(self, start, stop):
        k = start // self.batch_size
        drifted = self.nan_from_weight is not None and self.W[0][0, 0] >= self.nan_from_weight
        return math.nan if k == self.nan_cost_at or drifted else 1.0

    def parameters(self):
        return [w.copy() for w in self.W], [b.copy() for b in self.b]

    def set_parameters(self, weights, biases):
        self.W, self.b = [w.copy() for w in weights], [b.copy() for b in biases]

    def parameters_finite(self):
        return all(np.isfinite(a).all() for a in (*self.W, *self.b))

    def snapshot(self):
        return self.parameters()

    def restore(self, snapshot):
        self.restored.append(snapshot)
        self.set_parameters(*snapshot)

    def evaluate(self, x, y):
        return 0.5, np.zeros(len(x), dtype=np.int64)

    def synchronize(self):
        pass


class Bar:
    """Stands in for tqdm: keeps its arguments and counts what it was told."""

    made: list["Bar"] = []

    def __init__(self, iterable=None, **kwargs):
        self.iterable, self.kwargs, self.n, self.closed = iterable, kwargs, 0, False
        Bar.made.append(self)

    def __iter__(self):
        for item in self.iterable:
            self.n += 1
            yield item

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


@pytest.fixture
def bars(monkeypatch):
    Bar.made = []
    monkeypatch.setattr(tqdm, "tqdm", Bar)
    return Bar.made


@pytest.fixture
def clock(monkeypatch):
    """perf_counter as training.py sees it: 1 s more at every reading."""
    ticks = iter(range(100, 10**6))
    monkeypatch.setattr(training, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))


ORDER = np.arange(120)  # 12 batches of 10


# -- the settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", [(784, 10), (784, 1, 10), (2, 1)])
def test_two_widths_and_a_width_of_one_are_a_network(arch):
    assert TrainConfig(arch=arch).arch == arch


@pytest.mark.parametrize("arch", [(784, 0, 10), (784, True, 10), (784, 16.0, 10), (784, -3, 10)])
def test_a_width_that_is_not_a_positive_integer_is_refused(arch):
    with pytest.raises(ValueError, match="arch"):
        TrainConfig(arch=arch)


@pytest.mark.parametrize("hidden", [(), ("relu",)])
def test_no_hidden_layer_takes_no_name_or_one(hidden):
    assert TrainConfig(arch=(784, 10), hidden=hidden).hidden_per_layer == []


@pytest.mark.parametrize("arch, hidden", [((784, 10), ("relu", "tanh")), ((784, 16, 16, 10), ("relu", "tanh", "relu"))])
def test_too_many_hidden_names_are_refused(arch, hidden):
    with pytest.raises(ValueError, match="hidden"):
        TrainConfig(arch=arch, hidden=hidden)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hidden": ("swish",)}, "unknown hidden activation 'swish'; expected one of: sigmoid, tanh, relu, identity"),
        ({"output": "swish"}, "unknown output activation 'swish'; expected one of: sigmoid, tanh, relu, identity, softmax"),
        ({"cost": "hinge"}, "unknown cost 'hinge'; expected one of: quadratic, cross_entropy"),
        ({"init": "zeros"}, "unknown init 'zeros'; expected one of: normal, xavier, he"),
        ({"dtype": "float16"}, "unsupported dtype 'float16'; expected one of: float32, float64"),
        ({"lr": 0.0}, "lr"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"seed": True}, "seed must be a non-negative integer, got True"),
        ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
    ],
)
def test_each_bad_setting_is_named_with_what_is_expected(change, message):
    with pytest.raises(ValueError) as info:
        TrainConfig(**change)
    assert message in str(info.value)


def test_the_parameter_memory_is_checked_for_the_run_s_dtype(monkeypatch):
    seen = []
    monkeypatch.setattr(training, "check_parameter_memory", lambda sizes, dtype: seen.append((tuple(sizes), dtype)))
    TrainConfig(arch=(784, 30, 10), dtype="float64")
    assert seen == [((784, 30, 10), "float64")]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_initial_network_has_the_run_s_settings(dtype):
    config = TrainConfig(arch=(784, 12, 10), hidden=("relu",), output="softmax", cost="cross_entropy", init="he", dtype=dtype)
    net = config.build_network()
    assert tuple(net.sizes) == (784, 12, 10)
    assert all(w.dtype == np.dtype(dtype) for w in net.weights) and net.hidden == ("relu",) and net.output == "softmax"
    assert net.cost_name == "cross_entropy" and net.init == "he"


def test_the_initial_network_is_drawn_from_the_run_s_seed():
    from handprop.network import Network

    first, second = TrainConfig(arch=(784, 8, 10), seed=1), TrainConfig(arch=(784, 8, 10), seed=2)
    assert not np.array_equal(first.build_network().weights[0], second.build_network().weights[0])
    expected = Network([784, 8, 10], dtype="float32", seed=first.generators()[0])
    assert np.array_equal(first.build_network().weights[0], expected.weights[0])


def test_from_dict_names_every_unknown_setting_sorted_and_takes_lists():
    with pytest.raises(ValueError) as info:
        TrainConfig.from_dict({"zeta": 1, "alpha": 2, "lr": 0.1})
    assert str(info.value) == "unknown training settings: alpha, zeta"
    config = TrainConfig.from_dict({"arch": [784, 20, 10], "hidden": "tanh"})
    assert config.arch == (784, 20, 10) and config.hidden == ("tanh",)
    assert TrainConfig.from_dict({"arch": [784, 20, 20, 10], "hidden": ["tanh", "relu"]}).hidden == ("tanh", "relu")


@pytest.mark.parametrize("text, sizes", [("784-16-16-10", (784, 16, 16, 10)), ("784-10", (784, 10)), ("2-1-1", (2, 1, 1))])
def test_parse_arch_reads_widths(text, sizes):
    assert parse_arch(text) == sizes


@pytest.mark.parametrize(
    "text, message",
    [
        ("784,16,10", "--arch must be layer widths joined by '-', such as 784-16-16-10; got '784,16,10'"),
        ("784-x-10", "--arch must be layer widths joined by '-'"),
        ("784", "--arch needs at least two positive widths, such as 784-16-16-10; got '784'"),
        ("784-0-10", "--arch needs at least two positive widths"),
    ],
)
def test_parse_arch_says_what_it_expects(text, message):
    with pytest.raises(ValueError) as info:
        parse_arch(text)
    assert message in str(info.value)


# -- one-hot labels --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_hot_puts_a_single_one_per_row_in_the_run_s_dtype(dtype):
    y = _one_hot(np.array([0, 9, 3]), 10, dtype)
    assert y.dtype == np.dtype(dtype) and y.shape == (3, 10)
    assert np.array_equal(y.argmax(axis=1), [0, 9, 3]) and y.sum() == 3 and y.max() == 1


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([[0, 1]]), "labels must be a 1-D integer array, got shape (1, 2)"),
        (np.array([0.0, 1.0]), "labels must be a 1-D integer array, got shape (2,) and dtype float64"),
        (np.array([0, 10]), "labels must lie in [0, 9] for a network with 10 outputs"),
        (np.array([-1, 3]), "labels must lie in [0, 9] for a network with 10 outputs"),
    ],
)
def test_one_hot_refuses_labels_it_cannot_encode(labels, message):
    with pytest.raises(ValueError) as info:
        _one_hot(labels, 10, "float64")
    assert message in str(info.value)


def test_the_trainer_encodes_labels_in_the_run_s_dtype():
    x, labels, x_test, labels_test = synthetic_digits(n_train=20, n_test=10)
    trainer = Trainer(TrainConfig(arch=(784, 10), dtype="float32"), {"handprop": Scripted()},
                      Dataset(x, labels, x_test, labels_test), np.random.default_rng(0), progress=False)  # fmt: skip
    assert trainer._y_train.dtype == np.float32 and trainer._y_test.dtype == np.float32


# -- metrics.json ----------------------------------------------------------------------------------


def epochs(*accuracies):
    return [EpochMetrics(i, 1.0 / i, 1.1 / i, a, 0.1, 0.5, 0.0, 10) for i, a in enumerate(accuracies, start=1)]


def test_metrics_of_one_backend_name_its_best_epoch():
    config = TrainConfig(arch=(784, 10), epochs=3)
    metrics = run_metrics(config, "handprop", {"handprop": epochs(0.8, 0.9, 0.85)})
    assert set(metrics) == {"config", "backend", "epochs", "best"}
    assert metrics["config"] == {**config.to_dict(), "backend": "handprop"} and metrics["backend"] == "handprop"
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3] and metrics["epochs"][1]["test_accuracy"] == 0.9
    assert metrics["best"] == {"epoch": 2, "test_accuracy": 0.9}
    assert run_metrics(config, "handprop", {"handprop": []})["best"] is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_metrics_of_a_lockstep_run_hold_each_backend_and_the_differences(dtype):
    config = TrainConfig(arch=(784, 10), dtype=dtype)
    lockstep = [{"epoch": 1, "max_abs_param_diff": 1e-16, "max_fraction_of_tolerance": 0.01}]
    metrics = run_metrics(config, "both", {"handprop": epochs(0.8), "torch": epochs(0.7)}, lockstep)
    assert set(metrics) == {"config", "handprop", "torch", "lockstep", "lockstep_tolerance"}
    assert metrics["config"]["backend"] == "both" and metrics["lockstep"] == lockstep
    assert metrics["handprop"]["backend"] == "handprop" and metrics["torch"]["best"] == {"epoch": 1, "test_accuracy": 0.7}
    assert metrics["lockstep_tolerance"] == LOCKSTEP_TOLERANCE[dtype]


def test_a_trainer_s_metrics_are_run_metrics_of_its_history_and_lockstep():
    x, labels, x_test, labels_test = synthetic_digits(n_train=20, n_test=10)
    backends = {"handprop": Scripted("handprop"), "torch": Scripted("torch")}
    trainer = Trainer(TrainConfig(arch=(784, 10), epochs=2, batch_size=10), backends,
                      Dataset(x, labels, x_test, labels_test), np.random.default_rng(0), progress=False)  # fmt: skip
    trainer.run()
    assert trainer.metrics("both") == run_metrics(trainer.config, "both", trainer.history, trainer.lockstep)
    assert [entry["epoch"] for entry in trainer.metrics("both")["lockstep"]] == [1, 2]


# -- an epoch: its bar, its clock, its divergence ----------------------------------------------------


@pytest.mark.parametrize("progress, disable", [(None, None), (True, False), (False, True)])
def test_the_epoch_s_bar_counts_its_batches(bars, progress, disable):
    train_epoch(Scripted(), ORDER, 10, epoch=3, progress=progress)
    (bar,) = bars
    assert bar.kwargs["total"] == 12 and bar.n == 12 and bar.closed
    assert bar.kwargs["desc"] == "handprop epoch 3" and bar.kwargs["unit"] == "batch"
    assert bar.kwargs["leave"] is False and bar.kwargs["disable"] is disable


def test_the_bar_counts_every_window_s_batches(bars):
    train_epoch(Scripted(), np.arange(800), 10, epoch=1, progress=False)  # 80 batches: windows of 50 and 30
    assert bars[0].kwargs["total"] == 80 and bars[0].n == 80


@pytest.mark.parametrize("progress, disable", [(None, None), (True, False), (False, True)])
def test_the_lockstep_bar_counts_its_batches(bars, progress, disable):
    lockstep_epoch([Scripted("handprop"), Scripted("torch")], ORDER, 10, epoch=4, tolerance=1e-10, progress=progress)
    (bar,) = bars
    assert bar.n == 12 and bar.closed and bar.kwargs["desc"] == "lockstep epoch 4" and bar.kwargs["unit"] == "batch"
    assert bar.kwargs["leave"] is False and bar.kwargs["disable"] is disable


def test_an_epoch_s_seconds_are_the_clock_s_difference(clock):
    # readings: started, then the end; the bar reads no clock (disabled)
    assert train_epoch(Scripted(), ORDER, 10, epoch=1, progress=False) == 1.0


def test_lockstep_counts_each_backend_s_own_steps(clock):
    seconds, worst = lockstep_epoch([Scripted("handprop"), Scripted("torch")], ORDER, 10, 1, 1e-10, progress=False)
    assert seconds == {"handprop": 12.0, "torch": 12.0}  # one tick per step, summed over the 12 batches
    assert worst == {"max_abs_param_diff": 0.0, "max_fraction_of_tolerance": 0.0}


def test_lockstep_s_worst_fraction_is_below_one_when_every_step_passes():
    other = Scripted("torch", delta=1.0 + 1e-12)
    _, worst = lockstep_epoch([Scripted("handprop"), other], ORDER, 10, 1, 1e-10, progress=False)
    assert 0 < worst["max_abs_param_diff"] <= 1.1e-12 and 0 < worst["max_fraction_of_tolerance"] < 1


def test_steps_that_change_nothing_agree_exactly():
    """A step of size 0 on parameters of 0 allows no difference at all, and there is none."""
    _, worst = lockstep_epoch([Scripted("handprop", delta=0.0), Scripted("torch", delta=0.0)], ORDER, 10, 1, 1e-10, progress=False)
    assert worst == {"max_abs_param_diff": 0.0, "max_fraction_of_tolerance": 0.0}


def test_only_the_reference_s_cost_decides_a_divergence():
    """The other backends' costs are not compared (their parameters are): a NaN there is not a stop."""
    other = Scripted("torch", step_cost=math.nan)
    seconds, worst = lockstep_epoch([Scripted("handprop"), other], ORDER, 10, 1, 1e-10, progress=False)
    assert set(seconds) == {"handprop", "torch"} and worst["max_abs_param_diff"] == 0.0 and other.W[0][0, 0] == 12.0


def test_a_nan_cost_with_finite_parameters_stops_lockstep_at_its_batch():
    with pytest.raises(TrainingDiverged, match=r"the cost is nan at epoch 2, batch 5 of 12"):
        lockstep_epoch([Scripted("handprop", nan_cost_at=4), Scripted("torch")], ORDER, 10, 2, 1e-10, progress=False)


def test_lockstep_replays_from_the_failing_batch_itself():
    """A cost that turns NaN because of where the parameters went (not because of the batch) is named
    at its own batch: the replay starts from the parameters before it, at that batch."""
    with pytest.raises(TrainingDiverged, match=r"the cost is nan at epoch 1, batch 6 of 12"):
        lockstep_epoch([Scripted("handprop", nan_from_weight=5), Scripted("torch")], ORDER, 10, 1, 1e-10, progress=False)


def test_lockstep_of_overflowing_numpy_steps_raises_no_warning():
    from handprop.backends import make_backend

    config = TrainConfig(arch=(784, 32, 10), hidden=("relu",), output="identity", init="he", batch_size=10, lr=50.0, dtype="float64")
    x, labels, _, _ = synthetic_digits(n_train=1000)
    backends = [make_backend("handprop", config.build_network(), config, engine="numpy") for _ in range(2)]
    for backend in backends:
        backend.load_training_data(x, np.eye(10)[labels])
    with pytest.raises(TrainingDiverged, match="smaller --lr"):
        lockstep_epoch(backends, np.random.default_rng(1).permutation(1000), 10, 1, 1e-10, progress=False)


def test_lockstep_names_the_batch_where_the_reference_s_parameters_overflow():
    reference = Scripted("handprop", inf_parameters_at=6)
    with pytest.raises(TrainingDiverged, match=r"the step on epoch 1, batch 7 of 12 made the parameters NaN or infinite"):
        lockstep_epoch([reference, Scripted("torch")], ORDER, 10, 1, 1e-10, progress=False)
    assert reference.parameters_finite()


def test_lockstep_names_the_other_backend_whose_parameters_overflow():
    with pytest.raises(TrainingDiverged, match=r"^torch: the step on epoch 1, batch 3 of 12 made the parameters NaN or infinite"):
        lockstep_epoch([Scripted("handprop"), Scripted("torch", inf_parameters_at=2)], ORDER, 10, 1, 1e-10, progress=False)


def test_a_nan_in_the_first_batch_is_batch_1():
    backend = Scripted(nan_cost_at=0)
    with pytest.raises(TrainingDiverged, match=r"^handprop: the cost is nan at epoch 1, batch 1 of 12"):
        train_epoch(backend, ORDER, 10, epoch=1, progress=False)
    assert backend.W[0][0, 0] == 0.0 and backend.b[0][0] == 0.0  # rolled back to before the first step


def test_parameters_that_overflow_on_a_finite_cost_are_named_and_rolled_back():
    backend = Scripted(inf_parameters_at=63)  # in the second window of CHECK_EVERY = 50 batches
    order = np.arange(800)  # 80 batches
    with pytest.raises(TrainingDiverged) as info:
        train_epoch(backend, order, 10, epoch=2, progress=False)
    assert str(info.value).startswith("handprop: the step on epoch 2, batch 64 of 80 made the parameters NaN or infinite")
    assert backend.parameters_finite() and backend.W[0][0, 0] == 50.0  # the state after the first window


def test_a_window_whose_costs_only_overflow_in_their_sum_says_so():
    backend = Scripted(window_cost=math.inf)
    with pytest.raises(TrainingDiverged) as info:
        train_epoch(backend, ORDER, 10, epoch=1, progress=False)
    assert str(info.value).startswith("handprop: the costs of epoch 1, batches 1-12, overflowed")
    assert backend.W[0][0, 0] == 0.0  # rolled back to the start of the window
    assert all(np.all(s[0][0] == 0.0) for s in backend.restored)


def test_an_overflowing_numpy_step_raises_no_warning():
    """The NumPy engine overflows on the way to a NaN: the epoch ignores floating-point warnings
    (the suite turns warnings into errors) and stops on the NaN with its batch."""
    from handprop.backends import make_backend

    # ReLU units and a linear output under a huge learning rate overflow within a few batches
    config = TrainConfig(arch=(784, 32, 10), hidden=("relu",), output="identity", init="he", batch_size=10, lr=50.0, dtype="float64")
    x, labels, _, _ = synthetic_digits(n_train=1000)
    backend = make_backend("handprop", config.build_network(), config, engine="numpy")
    backend.load_training_data(x, np.eye(10)[labels])
    with pytest.raises(TrainingDiverged, match="smaller --lr"):
        train_epoch(backend, np.random.default_rng(1).permutation(1000), 10, epoch=1, progress=False)


# -- the run ----------------------------------------------------------------------------------------


def small_trainer(backends, **config):
    x, labels, x_test, labels_test = synthetic_digits(n_train=30, n_test=10)
    settings = dict(arch=(784, 10), epochs=2, batch_size=10, lr=0.5, l2=0.25)
    return Trainer(TrainConfig(**{**settings, **config}), backends, Dataset(x, labels, x_test, labels_test),
                   np.random.default_rng(0), progress=False)  # fmt: skip


@pytest.mark.parametrize("names", [("handprop",), ("handprop", "torch")])
def test_the_run_passes_its_settings_to_each_epoch(bars, names):
    trainer = small_trainer({n: Scripted(n) for n in names}, batch_size=15)
    seen = []
    trainer.run(on_epoch=lambda epoch, t: seen.append((epoch, t)))
    assert seen == [(1, trainer), (2, trainer)] and trainer.start_epoch == 2
    word = "handprop" if len(names) == 1 else "lockstep"
    assert [b.kwargs["desc"] for b in bars] == [f"{word} epoch 1", f"{word} epoch 2"]
    assert all(b.kwargs["disable"] is True for b in bars)  # progress=False
    assert all(b.n == 2 for b in bars)  # 30 examples in batches of 15
    if len(names) > 1:
        assert [entry["epoch"] for entry in trainer.lockstep] == [1, 2]


def test_each_epoch_records_the_settings_it_trained_with():
    trainer = small_trainer({"handprop": Scripted()})
    trainer.run()
    (first, second) = trainer.history["handprop"]
    assert (first.epoch, second.epoch) == (1, 2)
    assert (first.lr, first.l2, first.batch_size) == (0.5, 0.25, 10)
    assert first.train_cost == first.test_cost == 0.5 and first.test_accuracy == float((trainer.data.y_test == 0).mean())


def test_a_nan_training_cost_after_an_epoch_is_a_stop_with_its_epoch():
    backend = Scripted()
    backend.evaluate = lambda x, y: (math.nan, np.zeros(len(x), dtype=np.int64))
    with pytest.raises(TrainingDiverged) as info:
        small_trainer({"handprop": backend}).run()
    assert str(info.value).startswith("handprop: the training cost is nan after epoch 1")


def test_each_epoch_is_logged(caplog):
    with caplog.at_level(logging.INFO, logger="handprop.training"):
        small_trainer({"handprop": Scripted()}).run()
    lines = [r.getMessage() for r in caplog.records if r.name == "handprop.training"]
    accuracy = float((synthetic_digits(n_train=30, n_test=10)[3] == 0).mean())
    assert f"handprop epoch 2: train cost 0.5, test accuracy {accuracy:.4f}" in lines

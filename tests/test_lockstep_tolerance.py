"""Case 23: the lockstep tolerance is relative to the step, so a huge learning rate reports divergence.

With --backend both and lr 1000 the steps reach 1e11 and more, whose round-off (1e-5 and up in float64)
an absolute tolerance of 1e-10 called a disagreement. Relative to the step the backends agree, and a
run that overflows says so.
"""

from __future__ import annotations

import numpy as np
import pytest

from handprop.backends import make_backend
from handprop.numpy_backend import HandpropBackend
from handprop.training import (
    LOCKSTEP_TOLERANCE, LockstepError, TrainConfig, TrainingDiverged, lockstep_epoch, step_differences,
)

from train_helpers import synthetic_digits, torch_one_thread  # noqa: F401  (fixture)


def lockstep_run(config: TrainConfig, n: int = 300):
    x, labels, _, _ = synthetic_digits(n_train=n)
    y = np.eye(10, dtype=config.dtype)[labels]
    net = config.build_network()
    backends = [make_backend(name, net, config) for name in ("handprop", "torch")]
    for backend in backends:
        backend.load_training_data(x.astype(config.dtype), y)
    order = np.random.default_rng(0).permutation(n)
    return lockstep_epoch(backends, order, config.batch_size, 1, LOCKSTEP_TOLERANCE[config.dtype], progress=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_huge_steps_agree_relative_to_their_size(dtype, torch_one_thread):
    config = TrainConfig(arch=(784, 16, 10), hidden=("relu",), output="softmax", cost="cross_entropy", lr=1000.0,
                         dtype=dtype)
    _, diff = lockstep_run(config)
    if dtype == "float64":  # float32's round-off alone is beyond 1e-9
        assert diff["max_abs_param_diff"] > 1e-9  # beyond the old absolute tolerance in float64 ...
    assert 0 < diff["max_fraction_of_tolerance"] <= 1  # ... yet round-off relative to the step


def test_a_diverging_lockstep_run_reports_divergence(torch_one_thread):
    config = TrainConfig(arch=(784, 32, 10), hidden=("relu",), output="identity", cost="quadratic", init="he",
                         lr=1000.0, dtype="float64")
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch \d+ of 100; training stopped .* try a smaller --lr"):
        lockstep_run(config, n=1000)


def test_the_tolerance_is_relative_to_the_step_plus_a_few_roundings():
    theta = [np.zeros((2, 2))], [np.zeros(2)]
    after = [theta[0][0] - 1e11], [np.full(2, 1e-8)]  # W1 steps by 1e11, b1 by 1e-8
    off_w = [after[0][0] + 3e-5], [after[1][0].copy()]  # round-off of a 1e11 step: passes
    off_b = [after[0][0].copy()], [after[1][0] * (1 + 1e-6)]  # b1's tiny step wrong by 1e-6 of itself: caught
    rtol = LOCKSTEP_TOLERANCE["float64"]
    rows = {name: (diff, allowed) for name, diff, _, allowed, _ in step_differences(theta, after, off_w, rtol)}
    assert rows["W1"][0] == pytest.approx(3e-5, rel=0.2) and rows["W1"][0] <= rows["W1"][1]
    rows = {name: (diff, allowed) for name, diff, _, allowed, _ in step_differences(theta, after, off_b, rtol)}
    assert rows["b1"][0] > rows["b1"][1]



def _lockstep_with_a_wrong_learning_rate(dtype: str, relative: float):
    """The reference engine against itself with a learning rate (1 + relative) times larger: every step
    differs by ``relative`` of itself, the size of the difference the lockstep is meant to judge."""
    config = TrainConfig(arch=(784, 16, 10), init="xavier", batch_size=10, lr=3.0, dtype=dtype)
    x, labels, _, _ = synthetic_digits(n_train=60)
    y = np.eye(10, dtype=dtype)[labels]
    net = config.build_network()
    good, bad = HandpropBackend(net.copy(), config.lr), HandpropBackend(net.copy(), config.lr * (1 + relative))
    for backend in (good, bad):
        backend.load_training_data(x.astype(dtype), y)
    return lockstep_epoch([good, bad], np.arange(60), 10, 1, LOCKSTEP_TOLERANCE[dtype], progress=False)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_difference_just_above_the_tolerance_is_caught_and_just_below_is_not(dtype):
    tolerance = LOCKSTEP_TOLERANCE[dtype]
    with pytest.raises(LockstepError, match=r"epoch 1, batch 1 of 6: W\d differs"):
        _lockstep_with_a_wrong_learning_rate(dtype, 3 * tolerance)
    _, diff = _lockstep_with_a_wrong_learning_rate(dtype, 0.3 * tolerance)
    assert 0.1 < diff["max_fraction_of_tolerance"] <= 1  # close to the edge, on the passing side


# A wrong learning rate by these much is a real bug, yet 100 times the round-off of each dtype:
# a tolerance loose enough to let it through (say 1000 times the one chosen) is too loose.
REAL_BUGS = {"float64": 1e-8, "float32": 1e-2}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_small_real_bug_is_beyond_the_tolerance(dtype):
    with pytest.raises(LockstepError, match=r"epoch 1, batch 1 of 6"):
        _lockstep_with_a_wrong_learning_rate(dtype, REAL_BUGS[dtype])


def test_an_array_that_did_not_move_has_relative_difference_zero_or_infinite():
    """Relative to a step of 0 (say ReLU units that never fired) the two engines agree exactly or not at all."""
    theta = [np.ones((2, 2))], [np.ones(2)]
    after = [theta[0][0] - 0.5], [theta[1][0].copy()]  # W1 steps, b1 stays
    same = [after[0][0].copy()], [after[1][0].copy()]
    moved = [after[0][0].copy()], [after[1][0] + 1e-3]  # the other engine moved b1
    rows = {name: rel for name, _, rel, _, step in step_differences(theta, after, same, LOCKSTEP_TOLERANCE["float64"])}
    assert rows == {"W1": 0.0, "b1": 0.0}
    rows = {name: (rel, step) for name, _, rel, _, step in step_differences(theta, after, moved, LOCKSTEP_TOLERANCE["float64"])}
    assert rows["b1"] == (np.inf, 0.0) and rows["W1"] == (0.0, 0.5)

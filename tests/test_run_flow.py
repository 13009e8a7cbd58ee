"""A run's pieces handed down once (issue 16): load_run of a folder, one-call network copies,
make_backends, the backends as peers, and lockstep copying the parameters once per batch."""

from __future__ import annotations

import numpy as np
import pytest

from handprop.backends import BACKENDS, make_backend, make_backends
from handprop.network import Network
from handprop.numpy_backend import HandpropBackend
from handprop.runstate import load_run, save_run
from handprop.training import Dataset, TrainConfig, Trainer, lockstep_epoch
from train_helpers import synthetic_digits

SMALL = TrainConfig(arch=(784, 8, 10), epochs=1, batch_size=20, lr=1.0, dtype="float64")


def test_load_run_takes_the_folder_or_its_checkpoint(tmp_path):
    data = synthetic_digits(n_train=100, n_test=20)
    trainer = Trainer(SMALL, {"handprop": make_backend("handprop", SMALL.build_network(), SMALL, engine="numpy")},
                      Dataset(*data), SMALL.generators()[1], progress=False)
    trainer.run()
    save_run(tmp_path, trainer, "handprop")
    from_folder, from_file = load_run(tmp_path), load_run(tmp_path / "checkpoint.npz")
    assert from_folder.epoch == from_file.epoch == 1 and from_folder.config == from_file.config
    (w1, b1), (w2, b2) = from_folder.parameters["handprop"], from_file.parameters["handprop"]
    assert all(np.array_equal(p, q) for p, q in zip(w1 + b1, w2 + b2))
    net = from_folder.networks()["handprop"]
    assert all(np.array_equal(p, q) for p, q in zip(net.weights + net.biases, w1 + b1))


def test_network_copy_is_independent_and_keeps_the_configuration():
    net = Network([5, 4, 3], hidden="tanh", output="softmax", cost="cross_entropy", dtype="float32", seed=1)
    twin = net.copy()
    assert (twin.sizes, twin.hidden, twin.output, twin.cost_name, twin.dtype) == (net.sizes, net.hidden, net.output, net.cost_name, net.dtype)
    assert all(np.array_equal(p, q) and p is not q for p, q in zip(twin.weights + twin.biases, net.weights + net.biases))
    twin.weights[0][...] = 0.0
    twin.activations.append(None)
    assert np.abs(net.weights[0]).sum() > 0 and len(net.activations) == 2


def test_make_backends_gives_each_name_its_own_copy():
    net = SMALL.build_network()
    backends = make_backends({"handprop": net}, SMALL, engine="numpy")
    assert list(backends) == ["handprop"] and type(backends["handprop"]) is HandpropBackend
    assert backends["handprop"].net is not net
    assert "both" in BACKENDS


class CountingBackend(HandpropBackend):
    """The NumPy backend, counting the copies of its parameters that the loop asks for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.copies = 0

    def parameters(self):
        self.copies += 1
        return super().parameters()

    def snapshot(self):
        self.copies += 1
        return super().snapshot()


def test_lockstep_copies_the_reference_parameters_once_per_batch():
    x, labels, _, _ = synthetic_digits(n_train=100)
    y = np.eye(10)[labels]
    net = SMALL.build_network()
    reference, other = CountingBackend(net.copy(), SMALL.lr), HandpropBackend(net.copy(), SMALL.lr)
    for backend in (reference, other):
        backend.load_training_data(x, y)
    order = np.random.default_rng(0).permutation(100)
    lockstep_epoch([reference, other], order, SMALL.batch_size, 1, 1e-10, progress=False)
    assert reference.copies == 1 + 100 // SMALL.batch_size  # the starting point, then once after each step


@pytest.mark.parametrize("module", ["handprop.numpy_backend", "handprop.compiled", "verify.backend"])
def test_no_backend_builds_on_another(module):
    """Peers: no backend class derives from another backend; the only base allowed is the floor's
    ``NetworkArrays`` (what the two NumPy-parameter backends do alike), and every operation of the
    protocol is defined by the class or by that base."""
    import importlib

    from handprop import backend

    classes = {"handprop.numpy_backend": "HandpropBackend", "handprop.compiled": "CompiledBackend", "verify.backend": "TorchBackend"}
    cls = getattr(importlib.import_module(module), classes[module])
    assert all(base is object or base.__module__ == "handprop.backend" for base in cls.__bases__), cls.__bases__
    for method in ("load_training_data", "begin_epoch", "steps", "step", "batch_cost", "parameters", "set_parameters",
                   "parameters_finite", "snapshot", "restore", "evaluate", "synchronize", "prepare"):
        assert method in vars(cls) or method in vars(backend.NetworkArrays), f"{cls.__name__} does not define {method}"

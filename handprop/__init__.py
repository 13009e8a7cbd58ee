"""handprop: backpropagation written out by hand in NumPy, checked against PyTorch.

    from handprop import Network
    net = Network([784, 16, 16, 10], hidden="sigmoid", output="sigmoid",
                  cost="quadratic", init="normal", dtype="float64", seed=0)
    nabla_w, nabla_b = net.backprop(X, Y)

    run = handprop.train(epochs=2, data_root="../shared/data")     # the CLI's training, from Python
    report = handprop.check_backprop(my_backprop)                # your own backprop against the engine

The engine imports NumPy only; the PyTorch twin lives in the ``verify`` package. ``train``,
``load_run``, ``load_mnist`` and ``check_backprop`` are imported on first use, so ``import handprop``
stays light.
"""

from typing import Any

from .activations import ACTIVATIONS, Activation, get_activation
from .costs import COSTS, Cost, get_cost
from .network import ForwardPass, Gradients, Network, PerExampleGradients

# name -> module, imported on first attribute access (PEP 562)
_LAZY = {
    "Run": "api",
    "TrainConfig": "training",
    "EpochMetrics": "training",
    "train": "api",
    "load_run": "api",
    "load_mnist": "api",
    "TrainingInterrupted": "api",
    "check_backprop": "learner",
    "BackpropReport": "learner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "Activation",
    "BackpropReport",
    "EpochMetrics",
    "Run",
    "TrainConfig",
    "TrainingInterrupted",
    "Cost",
    "ForwardPass",
    "Gradients",
    "Network",
    "PerExampleGradients",
    "check_backprop",
    "get_activation",
    "get_cost",
    "load_mnist",
    "load_run",
    "train",
]
__version__ = "0.1.0"

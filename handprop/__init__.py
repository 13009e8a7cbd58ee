"""handprop: backpropagation written out by hand in NumPy, checked against PyTorch.

    from handprop import Network
    net = Network([784, 16, 16, 10], hidden="sigmoid", output="sigmoid",
                  cost="quadratic", init="normal", dtype="float64", seed=0)
    nabla_w, nabla_b = net.backprop(X, Y)

The engine imports NumPy only; the PyTorch twin lives in the ``verify`` package.
"""

from .activations import ACTIVATIONS, Activation, get_activation
from .costs import COSTS, Cost, get_cost
from .network import ForwardPass, Gradients, Network, PerExampleGradients

__all__ = [
    "ACTIVATIONS",
    "COSTS",
    "Activation",
    "Cost",
    "ForwardPass",
    "Gradients",
    "Network",
    "PerExampleGradients",
    "get_activation",
    "get_cost",
]
__version__ = "0.1.0"

"""verify: the PyTorch twin of a handprop network, whose gradients come from autograd."""

from .model import TwinNetwork, twin_gradients

__all__ = ["TwinNetwork", "twin_gradients"]

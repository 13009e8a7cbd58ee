"""verify: the PyTorch twin of a handprop network, whose gradients come from autograd.

``verify.compare`` compares the engine with the twin tensor by tensor; ``verify.gradcheck`` runs
``torch.autograd.gradcheck`` (finite differences) on the engine itself.
"""

from .model import TwinNetwork, twin_gradients

__all__ = ["TwinNetwork", "twin_gradients"]

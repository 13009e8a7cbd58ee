"""The student's starter file: signatures and conventions, no solutions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

TEMPLATE = '''"""Backpropagation by hand: the graded assignment.

Fill in the five functions below with NumPy. Do not change their names or signatures.

Conventions (the same as the course's reference implementation, handprop):
- Arrays are batch-first: one row per example. x has shape (n, in), y has shape (n, out) and holds
  one-hot rows.
- weights[l] has shape (out, in) and biases[l] has shape (out,), for l = 0 ... L-1 (input to output),
  so layer l computes  z = a_prev @ weights[l].T + biases[l]   with shape (n, out).
- Every layer, including the output layer, uses the sigmoid activation a = sigmoid(z).
- The cost is the MEAN over the batch of the quadratic cost of each example:
      C = (1/n) * sum_x  0.5 * ||a_x - y_x||^2
  so every gradient is a gradient of that mean.
- Work in float64. Do not modify the arrays you are given; return new ones.

You may define helper functions and import numpy. Do not print or write files: only the returned
values are graded.
"""

import numpy as np


def sigmoid(z):
    """The logistic function 1 / (1 + exp(-z)), applied element-wise.

    z: array of any shape. Returns an array of the same shape.
    """
    raise NotImplementedError("sigmoid")


def sigmoid_prime(z):
    """The derivative of the sigmoid, evaluated at z, element-wise.

    z: array of pre-activations, any shape. Returns an array of the same shape.
    """
    raise NotImplementedError("sigmoid_prime")


def feedforward(weights, biases, x):
    """The network's output activations for a batch.

    weights: list of L arrays, weights[l] of shape (out, in).
    biases:  list of L arrays, biases[l] of shape (out,).
    x:       inputs, shape (n, in).
    Returns the output layer's activations, shape (n, out_L).
    """
    raise NotImplementedError("feedforward")


def backprop(weights, biases, x, y):
    """The gradient of the batch-mean cost C with respect to every weight and bias.

    weights, biases: as in feedforward.
    x: inputs, shape (n, in).   y: one-hot targets, shape (n, out_L).
    Returns (nabla_w, nabla_b): two lists shaped exactly like weights and biases,
    nabla_w[l] = dC/dweights[l] of shape (out, in) and nabla_b[l] = dC/dbiases[l] of shape (out,).
    """
    raise NotImplementedError("backprop")


def update_mini_batch(weights, biases, x, y, eta):
    """One step of gradient descent on the batch (x, y) with learning rate eta.

    Returns (new_weights, new_biases), lists shaped like weights and biases, where
    new_weights[l] = weights[l] - eta * dC/dweights[l] (and the same for the biases), C being the
    batch-mean cost as above.
    """
    raise NotImplementedError("update_mini_batch")
'''


def write_template(path: Union[str, os.PathLike], overwrite: bool = False) -> Path:
    """Write the starter file to ``path``; refuses to replace an existing file unless ``overwrite``."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; choose another name or pass --force to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder {target.parent} does not exist")
    target.write_text(TEMPLATE, encoding="utf-8")
    return target

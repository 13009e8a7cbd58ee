"""The student's starter file for the ``network`` assignment, worded for its options. No solutions."""

from __future__ import annotations

ACTIVATION_TEXT = {
    "sigmoid": ("The logistic function 1 / (1 + exp(-z)), applied element-wise.", "sigmoid(z) * (1 - sigmoid(z))"),
    "tanh": ("The hyperbolic tangent tanh(z), applied element-wise.", "1 - tanh(z)**2"),
    "relu": ("The rectifier max(z, 0), applied element-wise.", "1 where z > 0, else 0 (use 0 at z = 0 exactly)"),
}

COST_TEXT = {
    "quadratic": """- The cost is the MEAN over the batch of the quadratic cost of each example:
      C = (1/n) * sum_x  0.5 * ||a_x - y_x||^2
  so every gradient is a gradient of that mean.""",
    "cross_entropy": """- The cost is the MEAN over the batch of the cross-entropy of each example:
      C = (1/n) * sum_x C_x,   C_x = {per_example}
  so every gradient is a gradient of that mean.""",
}

CE_PER_EXAMPLE = {
    "softmax": "-sum_j y_j log a_j",
    "sigmoid": "-sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]",
}

OUTPUT_TEXT = {
    "sigmoid": "the sigmoid a = sigmoid(z) = 1 / (1 + exp(-z))",
    "softmax": "the softmax a_j = exp(z_j) / sum_k exp(z_k), per row (example)",
}


def render_template(hidden: str, output: str, cost: str) -> str:
    """The starter file: signatures and conventions, no solutions."""
    doc, prime = ACTIVATION_TEXT[hidden]
    cost_text = COST_TEXT[cost].format(per_example=CE_PER_EXAMPLE.get(output, ""))
    output_helper = ""
    if output != hidden:
        output_helper = f'''

def output_activation(z):
    """The output layer's activation: {OUTPUT_TEXT[output]}.

    Not graded on its own: a helper for feedforward and backprop.
    """
    raise NotImplementedError("output_activation")
'''
    return f'''"""Backpropagation by hand: the graded assignment.

Fill in the five functions below with NumPy. Do not change their names or signatures.

Conventions (the same as the course's reference implementation, handprop):
- Arrays are batch-first: one row per example. x has shape (n, in), y has shape (n, out) and holds
  one-hot rows.
- weights[l] has shape (out, in) and biases[l] has shape (out,), for l = 0 ... L-1 (input to output),
  so layer l computes  z = a_prev @ weights[l].T + biases[l]   with shape (n, out).
- Every hidden layer uses the {hidden} activation a = {hidden}(z); the output layer uses
  {OUTPUT_TEXT[output]}.
{cost_text}
- Work in float64. Do not modify the arrays you are given; return new ones.

You may define helper functions and import numpy. Do not print or write files: only the returned
values are graded.
"""

import numpy as np


def {hidden}(z):
    """{doc}

    z: array of any shape. Returns an array of the same shape.
    """
    raise NotImplementedError("{hidden}")


def {hidden}_prime(z):
    """The derivative of {hidden}, evaluated at z, element-wise: {prime}.

    z: array of pre-activations, any shape. Returns an array of the same shape.
    """
    raise NotImplementedError("{hidden}_prime")
{output_helper}

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

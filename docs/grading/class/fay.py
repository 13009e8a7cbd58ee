"""Fay: tanh everywhere, forward and backward (a consistent backprop of the wrong network)."""

import numpy as np

ACT = np.tanh


def sigmoid(z):
    return ACT(z)


def sigmoid_prime(z):
    return 1.0 - ACT(z) ** 2


def feedforward(weights, biases, x):
    layers = list(zip(weights, biases))
    h = x
    while layers:
        w, b = layers.pop(0)
        h = ACT(h @ w.T + b)
    return h


def backprop(weights, biases, x, y):
    n = len(x)
    hs, us = [x], []
    for w, b in zip(weights, biases):
        us.append(hs[-1] @ w.T + b)
        hs.append(ACT(us[-1]))
    g = (hs[-1] - y) / n
    gw = [np.zeros_like(w) for w in weights]
    gb = [np.zeros_like(b) for b in biases]
    for j in range(len(weights) - 1, -1, -1):
        g = g * (1.0 - hs[j + 1] ** 2)
        gw[j] = g.T @ hs[j]
        gb[j] = g.sum(axis=0)
        g = g @ weights[j]
    return gw, gb


def update_mini_batch(weights, biases, x, y, eta):
    gw, gb = backprop(weights, biases, x, y)
    return [w - eta * d for w, d in zip(weights, gw)], [b - eta * d for b, d in zip(biases, gb)]

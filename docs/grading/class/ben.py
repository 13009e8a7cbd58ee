"""Ben: a correct submission, written his own way."""

import numpy as np


def sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s - s * s


def _forward(weights, biases, x):
    zs, activations = [], [x]
    for W, b in zip(weights, biases):
        zs.append(np.dot(activations[-1], W.T) + b)
        activations.append(sigmoid(zs[-1]))
    return zs, activations


def feedforward(weights, biases, x):
    return _forward(weights, biases, x)[1][-1]


def backprop(weights, biases, x, y):
    zs, activations = _forward(weights, biases, x)
    grads_w, grads_b = [], []
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / len(x)
    for layer in reversed(range(len(weights))):
        grads_w.insert(0, np.dot(delta.T, activations[layer]))
        grads_b.insert(0, np.sum(delta, axis=0))
        if layer > 0:
            delta = np.dot(delta, weights[layer]) * sigmoid_prime(zs[layer - 1])
    return grads_w, grads_b


def update_mini_batch(weights, biases, x, y, eta):
    gw, gb = backprop(weights, biases, x, y)
    return [W - eta * g for W, g in zip(weights, gw)], [b - eta * g for b, g in zip(biases, gb)]

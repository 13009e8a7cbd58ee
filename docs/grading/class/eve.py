"""Eve: forgets the 1/n of the batch mean."""

import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def sigmoid_prime(z):
    return 0.25 / np.cosh(0.5 * z) ** 2


def feedforward(weights, biases, x):
    for w, b in zip(weights, biases):
        x = sigmoid(np.matmul(x, w.T) + b)
    return x


def backprop(weights, biases, x, y):
    cache = []
    a = x
    for w, b in zip(weights, biases):
        z = np.matmul(a, w.T) + b
        cache.append((a, z))
        a = sigmoid(z)
    upstream = a - y
    nabla_w, nabla_b = [], []
    for w, (a_prev, z) in zip(weights[::-1], cache[::-1]):
        delta = upstream * sigmoid_prime(z)
        nabla_w.append(np.matmul(delta.T, a_prev))
        nabla_b.append(delta.sum(axis=0))
        upstream = np.matmul(delta, w)
    return nabla_w[::-1], nabla_b[::-1]


def update_mini_batch(weights, biases, x, y, eta):
    nabla_w, nabla_b = backprop(weights, biases, x, y)
    new_w = [w - eta * g for w, g in zip(weights, nabla_w)]
    new_b = [b - eta * g for b, g in zip(biases, nabla_b)]
    return new_w, new_b

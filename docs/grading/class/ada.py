"""Ada: a correct submission."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def feedforward(weights, biases, x):
    a = x
    for w, b in zip(weights, biases):
        a = sigmoid(a @ w.T + b)
    return a


def backprop(weights, biases, x, y):
    n = x.shape[0]
    activations = [x]
    zs = []
    a = x
    for w, b in zip(weights, biases):
        z = a @ w.T + b
        zs.append(z)
        a = sigmoid(z)
        activations.append(a)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1]) / n
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(biases)
    nabla_w[-1] = delta.T @ activations[-2]
    nabla_b[-1] = delta.sum(axis=0)
    for l in range(2, len(weights) + 1):
        delta = (delta @ weights[-l + 1]) * sigmoid_prime(zs[-l])
        nabla_w[-l] = delta.T @ activations[-l - 1]
        nabla_b[-l] = delta.sum(axis=0)
    return nabla_w, nabla_b


def update_mini_batch(weights, biases, x, y, eta):
    nabla_w, nabla_b = backprop(weights, biases, x, y)
    new_weights = [w - eta * nw for w, nw in zip(weights, nabla_w)]
    new_biases = [b - eta * nb for b, nb in zip(biases, nabla_b)]
    return new_weights, new_biases

"""Cem: the output error has the wrong sign (y - a instead of a - y)."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def feedforward(weights, biases, x):
    out = x
    for k in range(len(weights)):
        out = sigmoid(out.dot(weights[k].T) + biases[k])
    return out


def backprop(weights, biases, x, y):
    batch = x.shape[0]
    pre = []
    post = [x]
    for k in range(len(weights)):
        pre.append(post[k].dot(weights[k].T) + biases[k])
        post.append(sigmoid(pre[k]))
    err = (y - post[-1]) * sigmoid_prime(pre[-1]) / batch
    dws = list(weights)
    dbs = list(biases)
    k = len(weights) - 1
    while k >= 0:
        dws[k] = err.T.dot(post[k])
        dbs[k] = err.sum(0)
        if k:
            err = err.dot(weights[k]) * sigmoid_prime(pre[k - 1])
        k -= 1
    return dws, dbs


def update_mini_batch(weights, biases, x, y, eta):
    dws, dbs = backprop(weights, biases, x, y)
    return [weights[k] - eta * dws[k] for k in range(len(weights))], [biases[k] - eta * dbs[k] for k in range(len(biases))]

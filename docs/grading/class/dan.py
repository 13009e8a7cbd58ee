"""Dan's submission."""
import numpy as np

def sigmoid(t):
    # the logistic function
    return 1 / (1 + np.exp(-t))

def sigmoid_prime(t):
    return sigmoid(t) * (1 - sigmoid(t))

def feedforward(W, B, inputs):
    h = inputs
    for i in range(len(W)):
        h = sigmoid(h.dot(W[i].T) + B[i])
    return h

def backprop(W, B, inputs, targets):
    m = inputs.shape[0]
    zz = []
    aa = [inputs]
    for i in range(len(W)):
        zz.append(aa[i].dot(W[i].T) + B[i])   # pre-activation
        aa.append(sigmoid(zz[i]))
    d = (targets - aa[-1]) * sigmoid_prime(zz[-1]) / m
    gW = list(W)
    gB = list(B)
    i = len(W) - 1
    while i >= 0:
        gW[i] = d.T.dot(aa[i])
        gB[i] = d.sum(0)
        if i:
            d = d.dot(W[i]) * sigmoid_prime(zz[i - 1])
        i -= 1
    return gW, gB

def update_mini_batch(W, B, inputs, targets, lr):
    gW, gB = backprop(W, B, inputs, targets)
    return [W[i] - lr * gW[i] for i in range(len(W))], [B[i] - lr * gB[i] for i in range(len(B))]

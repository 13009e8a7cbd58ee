"""A student's chain-rule assignment with the cost's ½ added (the video's C0 = (a - y)**2 has none)."""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def chain_forward(w, b, x):
    a = [x]
    for wl, bl in zip(w, b):
        a.append(sigmoid(wl * a[-1] + bl))
    return np.array(a)


def chain_gradients(w, b, x, y):
    a = chain_forward(w, b, x)
    L = len(w)
    dw, db, da = np.zeros(L), np.zeros(L), np.zeros(L + 1)
    da[L] = a[L] - y  # the mistake: dC0/da(L) = 2 (a(L) - y)
    for l in range(L, 0, -1):
        dz = da[l] * a[l] * (1 - a[l])
        dw[l - 1], db[l - 1], da[l - 1] = a[l - 1] * dz, dz, w[l - 1] * dz
    return dw, db, da

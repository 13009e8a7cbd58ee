"""Helpers for the assignment tests: run a submission's functions in this process (trusted test
code only) and judge them, and build the test-side submissions of each assignment.

The in-process runner mirrors what the sandbox hands back: the value rebuilt as float64 arrays,
floats and lists, and ``modified`` listing the arguments the call changed in place.
"""

from __future__ import annotations

import copy
import types
from typing import Any

import numpy as np

from handprop.grading.assignments import Assignment, ReturnedValue
from handprop.grading.cases import Case
from handprop.grading.diagnose import Verdict

from grading_helpers import mutate  # noqa: F401 (re-exported for the assignment tests)


def load(source: str) -> types.ModuleType:
    module = types.ModuleType("submission")
    exec(compile(source, "submission.py", "exec"), module.__dict__)
    return module


def _rebuild(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_rebuild(v) for v in value]
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
        return float(value)
    return np.array(value, dtype=np.float64) if isinstance(value, np.ndarray) else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    return a == b


def call(module: types.ModuleType, case: Case) -> ReturnedValue:
    """One case, as the sandbox runs it: fresh copies of the arguments, then compare them."""
    args = copy.deepcopy(case.args)
    try:
        value = getattr(module, case.function)(*args)
    except Exception as error:  # the submission's exception
        return ReturnedValue("exception", f"{type(error).__name__}: {error}")
    modified = [i for i, (a, b) in enumerate(zip(case.args, args)) if not _same(a, b)]
    return ReturnedValue("ok", value=_rebuild(value), modified=modified)


def judge_source(assignment: Assignment, source: str, suite: dict[str, list[Case]], functions=None, rtol: float = 1e-5) -> dict[str, list[Verdict]]:
    """Each function's verdicts, case by case."""
    module = load(source)
    return {
        f: [assignment.judge(case, call(module, case), rtol) for case in suite[f]]
        for f in (functions or assignment.functions)
    }


def case_digest(suite: dict[str, list[Case]]) -> str:
    """The first 16 hex digits of a SHA-256 over every case's arguments (lists followed into), each
    rounded to 12 digits: pinned in the tests, so that a change of how cases are drawn (every
    student's cases on a regrade) is made on purpose."""
    import hashlib

    digest = hashlib.sha256()

    def add(value: Any) -> None:
        if isinstance(value, (list, tuple)):
            for v in value:
                add(v)
        else:
            digest.update(np.round(np.atleast_1d(np.asarray(value, dtype=np.float64)), 12).tobytes())

    for cases in suite.values():
        for case in cases:
            add(case.args)
    return digest.hexdigest()[:16]


# -- the network assignment: a correct submission for any options, and each mistake as a change ------

HIDDEN = {
    "sigmoid": ("1.0 / (1.0 + np.exp(-z))", "sigmoid(z) * (1 - sigmoid(z))", "z * (1 - z)"),
    "tanh": ("np.tanh(z)", "1 - np.tanh(z) ** 2", "1 - z ** 2"),
    "relu": ("np.maximum(z, 0.0)", "(z > 0).astype(float)", None),
}
OUTPUT = {
    "sigmoid": "1.0 / (1.0 + np.exp(-z))",
    "softmax": "np.exp(z - z.max(axis=1, keepdims=True)) / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)",
}
OUTPUT_ERROR = {  # δ^L of one example, before the 1/n
    ("sigmoid", "quadratic"): "(a - y) * a * (1 - a)",
    ("softmax", "quadratic"): "a * ((a - y) - ((a - y) * a).sum(axis=1, keepdims=True))",
    ("sigmoid", "cross_entropy"): "(a - y)",
    ("softmax", "cross_entropy"): "(a - y)",
}

NETWORK_SOURCE = '''import numpy as np


def {h}(z):
    return {h_forward}


def {h}_prime(z):
    return {h_prime}


def out_act(z):
    return {o_forward}


def output_error(a, z, y):
    return {delta_L}


def feedforward(weights, biases, x):
    a = x
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T + b
        a = out_act(z) if l == len(weights) - 1 else {h}(z)
    return a


def backprop(weights, biases, x, y):
    n = x.shape[0]
    activations = [x]
    zs = []
    a = x
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T + b
        zs.append(z)
        a = out_act(z) if l == len(weights) - 1 else {h}(z)
        activations.append(a)
    delta = output_error(activations[-1], zs[-1], y) / n
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(biases)
    nabla_w[-1] = delta.T @ activations[-2]
    nabla_b[-1] = delta.sum(axis=0)
    for l in range(2, len(weights) + 1):
        delta = (delta @ weights[-l + 1]) * {h}_prime(zs[-l])
        nabla_w[-l] = delta.T @ activations[-l - 1]
        nabla_b[-l] = delta.sum(axis=0)
    return nabla_w, nabla_b


def update_mini_batch(weights, biases, x, y, eta):
    nabla_w, nabla_b = backprop(weights, biases, x, y)
    new_weights = [w - eta * nw for w, nw in zip(weights, nabla_w)]
    new_biases = [b - eta * nb for b, nb in zip(biases, nabla_b)]
    return new_weights, new_biases
'''


def network_source(hidden: str = "sigmoid", output: str = "sigmoid", cost: str = "quadratic") -> str:
    """A correct submission of the network assignment with these options."""
    h_forward, h_prime, _ = HIDDEN[hidden]
    extra = "" if hidden == "sigmoid" else "\n\ndef sigmoid(z):\n    return 1.0 / (1.0 + np.exp(-z))\n"
    return NETWORK_SOURCE.format(
        h=hidden, h_forward=h_forward, h_prime=h_prime, o_forward=OUTPUT[output], delta_L=OUTPUT_ERROR[(output, cost)]
    ) + extra


def network_mistake(tag: str, hidden: str = "sigmoid", output: str = "sigmoid", cost: str = "quadratic") -> list[tuple[str, str]]:
    """The changes that give the correct submission exactly the mistake ``tag``."""
    delta_L = OUTPUT_ERROR[(output, cost)]
    h_prime_call = f"{hidden}_prime(zs[-l])"
    elementwise_output = (output, cost) == ("sigmoid", "quadratic")
    if tag == "missing-batch-mean":
        return [("y) / n\n", "y)\n")]
    if tag == "double-batch-mean":
        return [("y) / n\n", "y) / n ** 2\n")]
    if tag == "transposed":
        return [("delta.T @ activations[-2]", "activations[-2].T @ delta"), ("delta.T @ activations[-l - 1]", "activations[-l - 1].T @ delta")]
    if tag == "sign-flipped":
        return [(delta_L, delta_L.replace("(a - y)", "(y - a)"))]
    if tag == "factor-2":
        return [("y) / n\n", "y) * 2 / n\n")]
    if tag == "bias-not-reduced":
        return [("delta.sum(axis=0)", "delta")]
    if tag == "wrong-shape":
        return [("delta.sum(axis=0)", "delta.sum(axis=0).reshape(-1, 1)")]
    if tag == "missing-target":
        return [(delta_L, delta_L.replace("(a - y)", "a"))]
    if tag == "output-derivative-not-cancelled":
        return [(delta_L, "(a - y) * a * (1 - a)")]
    if tag == "missing-activation-derivative":
        changes = [(f" * {h_prime_call}", "")]
        if cost == "quadratic":
            changes.append((f"return {delta_L}", "return (a - y)"))
        return changes
    if tag == "activation-instead-of-derivative":  # BP2 with σ(z) where σ′(z) belongs (examples/learner_sigma_mistake.py)
        return [(h_prime_call, f"{hidden}(zs[-l])")]
    if tag == "derivative-of-activation-not-preactivation":
        changes = []
        if hidden != "relu":
            changes.append((h_prime_call, f"{hidden}_prime(activations[-l])"))
        if elementwise_output:
            changes.append((delta_L, "(a - y) * out_act(a) * (1 - out_act(a))"))
        return changes
    raise KeyError(tag)


def network_prime_mistake(hidden: str, tag: str = "derivative-of-activation-not-preactivation") -> list[tuple[str, str]]:
    """The activation's derivative written with the a-formula applied to z, or returning the
    activation itself (``activation-instead-of-derivative``)."""
    h_forward, h_prime, wrong = HIDDEN[hidden]
    if tag == "activation-instead-of-derivative":
        return [(f"return {h_prime}", f"return {h_forward}")]
    if tag == "derivative-of-activation-not-preactivation" and wrong is not None:
        return [(f"return {h_prime}", f"return {wrong}")]
    raise KeyError(tag)


# -- the chain-rule assignment -------------------------------------------------------------------------

CHAIN_SOURCE = '''import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def chain_forward(w, b, x):
    a = [x]
    for l in range(len(w)):
        a.append(sigmoid(w[l] * a[-1] + b[l]))
    return np.array(a)


def chain_gradients(w, b, x, y):
    L = len(w)
    a = chain_forward(w, b, x)
    z = w * a[:-1] + b
    dw, db, da = np.zeros(L), np.zeros(L), np.zeros(L + 1)
    da[L] = 2 * (a[L] - y)
    for l in range(L - 1, -1, -1):
        dz = da[l + 1] * sigmoid_prime(z[l])
        dw[l] = a[l] * dz
        db[l] = dz
        da[l] = w[l] * dz
    return dw, db, da
'''

CHAIN_MISTAKES = {
    "chain_gradients": {
        "sign-flipped": [("2 * (a[L] - y)", "2 * (y - a[L])")],
        "factor-2": [("2 * (a[L] - y)", "(a[L] - y)")],
        "missing-activation-derivative": [("da[l + 1] * sigmoid_prime(z[l])", "da[l + 1]")],
        "derivative-of-activation-not-preactivation": [("da[l + 1] * sigmoid_prime(z[l])", "da[l + 1] * sigmoid_prime(a[l + 1])")],
        "reversed-order": [("    return dw, db, da\n", "    return dw[::-1], db[::-1], da[::-1]\n")],
    },
    "chain_forward": {
        "reversed-order": [("    return np.array(a)\n", "    return np.array(a[::-1])\n")],
    },
}


# -- the layers assignment -------------------------------------------------------------------------------

LAYERS_SOURCE = '''import numpy as np


def linear_forward(x, W, b):
    return x @ W.T + b


def linear_backward(dz, x, W):
    dx = dz @ W
    dW = dz.T @ x
    db = dz.sum(axis=0)
    return dx, dW, db


def sigmoid_backward(da, z):
    s = 1.0 / (1.0 + np.exp(-z))
    return da * s * (1 - s)


def relu_backward(da, z):
    return da * (z > 0)


def tanh_backward(da, z):
    return da * (1 - np.tanh(z) ** 2)


def softmax_cross_entropy(z, y):
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    cost = -np.sum(y * np.log(p)) / n
    dz = (p - y) / n
    return cost, dz
'''

LAYERS_MISTAKES = {
    "linear_forward": {"transposed": [("    return x @ W.T + b\n", "    return W @ x.T + b[:, None]\n")]},
    "linear_backward": {
        "double-batch-mean": [("    dW = dz.T @ x\n    db = dz.sum(axis=0)\n", "    dW = dz.T @ x / len(x)\n    db = dz.mean(axis=0)\n")],
        "transposed": [("dW = dz.T @ x", "dW = x.T @ dz")],
        "bias-not-reduced": [("db = dz.sum(axis=0)", "db = dz")],
        "sign-flipped": [("    return dx, dW, db\n", "    return -dx, -dW, -db\n")],
    },
    "sigmoid_backward": {
        "missing-activation-derivative": [("return da * s * (1 - s)", "return da")],
        "derivative-of-activation-not-preactivation": [("return da * s * (1 - s)", "return da * z * (1 - z)")],
        "activation-instead-of-derivative": [("return da * s * (1 - s)", "return da * s")],
    },
    "relu_backward": {
        "missing-activation-derivative": [("return da * (z > 0)", "return da")],
        "activation-instead-of-derivative": [("return da * (z > 0)", "return da * np.maximum(z, 0)")],
    },
    "tanh_backward": {
        "missing-activation-derivative": [("return da * (1 - np.tanh(z) ** 2)", "return da")],
        "activation-instead-of-derivative": [("return da * (1 - np.tanh(z) ** 2)", "return da * np.tanh(z)")],
        "derivative-of-activation-not-preactivation": [("return da * (1 - np.tanh(z) ** 2)", "return da * (1 - z ** 2)")],
    },
    "softmax_cross_entropy": {
        "missing-batch-mean": [("dz = (p - y) / n", "dz = (p - y)")],
        "sign-flipped": [("dz = (p - y) / n", "dz = (y - p) / n")],
        "missing-target": [("dz = (p - y) / n", "dz = p / n")],
        "output-derivative-not-cancelled": [("dz = (p - y) / n", "dz = (p - y) * p * (1 - p) / n")],
    },
}

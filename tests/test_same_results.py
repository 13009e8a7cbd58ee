"""Training results are bit-for-bit those of the code before the backends were reorganised (issue 16).

Each case trains a few hundred SGD steps through ``handprop.train`` on small synthetic digits and
hashes the bytes of the final parameters. The digests were recorded from the code as it was before
the backends became peers under one protocol (commit 2e64623); a refactoring that changes any
arithmetic — the order of a sum, a copy in another dtype, one extra or missing step — changes them.

The digests hold for this project's machines (x86-64, NumPy's bundled OpenBLAS, torch on the CPU
with one thread): another BLAS or CPU family may round differently, and then this test says so by
failing with the digest it got.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import handprop
from train_helpers import synthetic_digits, torch_one_thread  # noqa: F401  (fixture)

STEPS_PER_EPOCH = 30  # 300 examples in batches of 10
EPOCHS = 10  # 300 steps

# (backend, engine, dtype, l2) -> sha256 of the parameters' bytes (W1, b1, W2, b2, ... of each backend)
RECORDED = {
    ("handprop", "numpy", "float64", 5.0): "3c37efa0b9ac40eae5a39ddb7033e6cf258e5b7c252934868efe77893c81adc5",
    ("handprop", "numpy", "float32", 0.0): "64185d9d6ba648e902e138cbc063525ed71d1e3dac7a2c8e314c95b82fcc971c",
    ("handprop", "compiled", "float64", 5.0): "9cb10626ba26d05b3d8dbabc440f0e049b9b3904622c0044880f2a116bbd2048",
    ("handprop", "compiled", "float32", 0.0): "19b1fd2e14fb7f503e7b66a034b50a60269a6155e993bca1a979cad9f6eded35",
    ("torch", "numpy", "float64", 5.0): "7714f14b043d423b2eb883a3164f50936dba30fb3a69727c4d937f0354a8f0ae",
    ("torch", "numpy", "float32", 0.0): "e0303c58cf847ffc59a2cad1eea5f5ff1a0f703eed820a817c45960b05f91a2a",
    ("both", "numpy", "float32", 5.0): "87dfb021ccc2f0e473a59f019b67301f81f06f9ff15224412ecd7f33b668967c",
    ("both", "compiled", "float64", 0.0): "451101fa374216db8ada895e90702666b69a0c28fbb60ba4a2d9d6bfc25b684c",
}


def parameter_digest(run: handprop.Run) -> str:
    digest = hashlib.sha256()
    for name in sorted(run.parameters):
        weights, biases = run.parameters[name]
        for W, b in zip(weights, biases):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(W).tobytes())
            digest.update(np.ascontiguousarray(b).tobytes())
    return digest.hexdigest()


@pytest.fixture
def small_digits(monkeypatch):
    import handprop.data

    x_train, y_train, x_test, y_test = synthetic_digits(n_train=STEPS_PER_EPOCH * 10, n_test=50, seed=3)

    def fake_load_dataset(name="mnist", split="train", data_root=None, download=True, dtype="float64"):
        x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
        return x.astype(dtype), y.copy()

    monkeypatch.setattr(handprop.data, "load_dataset", fake_load_dataset)


def train_case(backend: str, engine: str, dtype: str, l2: float) -> handprop.Run:
    return handprop.train(
        backend=backend, engine=engine, dtype=dtype, l2=l2, arch=(784, 16, 16, 10), epochs=EPOCHS,
        batch_size=10, lr=3.0, seed=7, progress=False, threads=1 if backend != "handprop" else None,
    )


@pytest.mark.parametrize("key", sorted(RECORDED), ids=lambda k: "-".join(map(str, k)))
def test_training_results_are_bit_identical(key, small_digits, request):
    backend, engine, dtype, l2 = key
    if backend != "handprop":
        request.getfixturevalue("torch_one_thread")  # skips, saying why, where torch is not installed
    run = train_case(backend, engine, dtype, l2)
    assert run.epoch == EPOCHS
    assert parameter_digest(run) == RECORDED[key], f"{key}: parameters differ from the recorded run"

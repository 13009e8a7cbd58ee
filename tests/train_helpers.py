"""Small synthetic digit-like data for fast training tests (no MNIST, no network)."""

from __future__ import annotations

import numpy as np
import pytest


def synthetic_digits(n_train: int = 400, n_test: int = 100, n_pixels: int = 784, n_classes: int = 10, seed: int = 0):
    """(x_train, y_train, x_test, y_test): noisy copies of one random prototype image per class, in [0, 1]."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((n_classes, n_pixels)) < 0.1  # (classes, pixels) sparse "strokes"

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, n_classes, n)  # (n,)
        x = prototypes[labels] * 0.8 + rng.random((n, n_pixels)) * 0.2  # (n, pixels)
        return np.clip(x, 0.0, 1.0), labels.astype(np.int64)

    return (*sample(n_train), *sample(n_test))


@pytest.fixture(autouse=False)
def torch_one_thread():
    """Run torch single-threaded for the test, then restore its thread count.

    On a machine whose cores are shared with other processes, a float64 epoch of the default network
    with torch's two default threads took ~50 s instead of ~3 s with one.
    """
    import torch  # a dependency (pyproject.toml): a broken install fails here, it does not skip

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def synthetic_mnist(monkeypatch):
    """``load_dataset`` returns small synthetic 28×28 digits; no file or network is touched."""
    import handprop.data

    x_train, y_train, x_test, y_test = synthetic_digits(n_train=300, n_test=100)

    def fake_load_dataset(name="mnist", split="train", data_root=None, download=True, dtype="float64"):
        x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
        return x.astype(dtype), y.copy()

    monkeypatch.setattr(handprop.data, "load_dataset", fake_load_dataset)

"""Largest engine-vs-autograd relative error per dtype and cost, over a matrix of networks.

    python -m verify.measure

Every hidden activation × (output, cost) pair × batch sizes 1, 2, 37 × 3 seeds, on the tests'
5-7-3-4 network (N(0, 1) init) and on 784-16-16-10 with xavier and he init. Relative error as
defined in ``verify.compare``. Prints one line per (dtype, cost) with the worst case, and for
float32 how far each side is from a float64 reference (the twin in float64 on the same, float32-
rounded, parameters and inputs): the engine should be no less accurate than torch.
"""

from __future__ import annotations

import numpy as np

from handprop import Network
from handprop.activations import HIDDEN_ACTIVATIONS

from .compare import compare, error_scales, random_batch, relative_error
from .model import TwinNetwork, twin_gradients
from .compare import OUTPUT_COSTS

NETWORKS = [([5, 7, 3, 4], "normal"), ([784, 16, 16, 10], "xavier"), ([784, 16, 16, 10], "he")]


def main() -> None:
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    cases = 0
    acc: dict[str, tuple[float, float]] = {}
    for sizes, init in NETWORKS:
        for dtype in ("float64", "float32"):
            for output, cost in OUTPUT_COSTS:
                for hidden in HIDDEN_ACTIVATIONS:
                    for n in (1, 2, 37):
                        for seed in range(3):
                            net = Network(sizes, hidden, output, cost, init, dtype, seed=10 * seed + n)
                            X, y = random_batch(net, n, np.random.default_rng(100 + n + seed))
                            report = compare(net, X, y)
                            row = max(report.rows, key=lambda r: r.max_rel_error)
                            where = f"{row.name} of {'-'.join(map(str, sizes))} {init} {hidden}/{output}, n={n}"
                            if row.max_rel_error > worst.get((dtype, cost), (-1.0, ""))[0]:
                                worst[(dtype, cost)] = (row.max_rel_error, where)
                            cases += 1
                            if dtype == "float32":
                                engine_err, torch_err = float32_accuracy(net, X, y)
                                acc[cost] = (max(acc.get(cost, (0.0, 0.0))[0], engine_err), max(acc.get(cost, (0.0, 0.0))[1], torch_err))
    print(f"{cases} comparisons")
    for (dtype, cost), (err, where) in sorted(worst.items()):
        print(f"{dtype:8s} {cost:14s} largest rel err {err:.2e}  ({where})")
    for cost, (engine_err, torch_err) in sorted(acc.items()):
        print(f"float32 vs float64 reference, {cost}: engine {engine_err:.2e}, torch {torch_err:.2e} (largest)")


def float32_accuracy(net: Network, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Largest rel error over all gradient tensors of the float32 engine and of the float32 twin,
    each against the float64 twin on the same parameters and inputs."""
    x32 = X.astype(np.float32)
    ref_net = Network.from_parameters(net.weights, net.biases, list(net.hidden), net.output, net.cost_name, "float64")
    ref = twin_gradients(TwinNetwork.from_network(ref_net), x32.astype(np.float64), y, ref_net)
    h = net.gradients(x32, y)
    t = twin_gradients(TwinNetwork.from_network(net), x32, y, net)
    m_w, m_b, m_delta, m_a = error_scales(ref_net, x32.astype(np.float64), ref)
    pairs = list(zip(h.nabla_w, t.nabla_w, ref.nabla_w, m_w)) + list(zip(h.nabla_b, t.nabla_b, ref.nabla_b, m_b))
    pairs += list(zip(h.delta, t.delta, ref.delta, m_delta)) + list(zip(h.nabla_a[:-1], t.nabla_a[:-1], ref.nabla_a[:-1], m_a))
    engine = max(relative_error(a, r, m)[1] for a, _, r, m in pairs)
    torch_ = max(relative_error(b, r, m)[1] for _, b, r, m in pairs)
    return engine, torch_


if __name__ == "__main__":
    main()

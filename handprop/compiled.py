"""The training loop's steps compiled with Numba: the same BP1–BP4 as ``network.py``, without Python per step.

``network.py`` stays the text to read and the reference for everything; this module only makes the
training loop's SGD steps fast, and the tests check it against the reference step by step
(tests/test_compiled.py). One call of ``train_batches`` runs many mini-batches:

    for each mini-batch B of m examples, for each example x in B:
        z^1 = b^1 + Σ_{i : x_i ≠ 0} x_i W^1[:, i]        only the non-zero pixels (MNIST: 19% of them)
        z^ℓ = b^ℓ + Σ_i a^(ℓ-1)_i W^ℓ[:, i],  a^ℓ = σ(z^ℓ)
        BP1  δ^L = ∇_a C_x ⊙ σ'(z^L) / (m / η)             (fused a − y for cross-entropy)
        BP2  δ^ℓ = (W^(ℓ+1)ᵀ δ^(ℓ+1)) ⊙ σ'(z^ℓ)
    then, with every δ of the batch computed from the same parameters:
        W^ℓ ← (1 − ηλ/n) W^ℓ − Σ_x δ^ℓ_x a^(ℓ-1)_xᵀ       BP4, fused into the update; W^1 on non-zero pixels only
        b^ℓ ← b^ℓ − Σ_x δ^ℓ_x                              BP3

δ already carries η/m (as ``Network.cost_and_backprop_prepared(scale=η)`` does), so the update is
one subtraction. What makes it fast (each idea measured, docs/training.md):

- no allocation per step: the parameters live in one flat buffer ``theta`` (each weight matrix stored
  transposed, (in, out), so that the forward product and the weight update are contiguous
  "row += scalar × row" loops that the compiler vectorises without reassociating sums), and the
  activations a and errors δ of a batch in buffers made once;
- elementwise work (σ, σ', the cost) is done in the loops that produce its inputs;
- the inputs are kept as per-example lists of non-zero pixels (built once per dataset), so the first
  layer's forward product and weight gradient skip the zeros;
- many batches per call, so Python runs once per window of batches, not once per step.

The network's ``weights`` and ``biases`` become views into ``theta`` (``weights[ℓ-1]`` is the
transpose of the stored (in, out) block), so the reference engine evaluates exactly the parameters
the compiled steps train, with no copying.

Numba is imported with this module, which ``training.make_backend`` imports only when the compiled
engine is asked for; ``cache=True`` keeps the machine code on disk, so only the first run on a
machine waits for the compiler.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import numpy as np
import numba
from numba import njit

from .network import Network
from .training import HandpropBackend

logger = logging.getLogger(__name__)

Array = np.ndarray

# activation codes (hidden and output) and cost codes, as the compiled kernel sees them
ACTIVATION_CODES = {"sigmoid": 0, "tanh": 1, "relu": 2, "identity": 3, "softmax": 4}
COST_CODES = {"quadratic": 0, "cross_entropy": 1}
SIGMOID, TANH, RELU, IDENTITY, SOFTMAX = 0, 1, 2, 3, 4
QUADRATIC, CROSS_ENTROPY = 0, 1


# ---------------------------------------------------------------------------------------------
# the kernel

# Numba leaves LLVM's SLP vectoriser off by default; the kernel is compiled (on its first call) with it
# on, for this module's functions only. It packs the eight independent per-output sums of ``_affine``
# and the eight updates of ``_subtract_outer`` into vector instructions; it never reorders a sum, so
# the results are bit for bit those of the scalar code. Measured: 2-3× faster first-layer loops.
_SLP_WHY = "see above"

# zeros after the parameter buffers: _affine's last block of 8 may read up to 7 entries past a row
PAD = 8

# unsigned offsets 0…15: an unsigned index skips Numba's negative-index wraparound check
U0 = np.uint64(0)
U1 = np.uint64(1)
U2 = np.uint64(2)
U3 = np.uint64(3)
U4 = np.uint64(4)
U5 = np.uint64(5)
U6 = np.uint64(6)
U7 = np.uint64(7)
U8 = np.uint64(8)
U9 = np.uint64(9)
U10 = np.uint64(10)
U11 = np.uint64(11)
U12 = np.uint64(12)
U13 = np.uint64(13)
U14 = np.uint64(14)
U15 = np.uint64(15)


@njit(cache=True)
def _activate(a: Array, x: int, o: int, size: int, code: int, one: Any) -> None:
    """a^ℓ = σ(z^ℓ) in place on the row segment a[x, o:o+size] (which holds z^ℓ on entry)."""
    if code == SIGMOID:
        for j in range(size):
            a[x, o + j] = one / (one + math.exp(-a[x, o + j]))  # exp overflow → inf → σ = 0, as the engine
    elif code == TANH:
        for j in range(size):
            a[x, o + j] = math.tanh(a[x, o + j])
    elif code == RELU:
        for j in range(size):
            if a[x, o + j] < 0:  # max(z, 0), keeping a NaN as the engine does
                a[x, o + j] = 0
    elif code == SOFTMAX:
        top = a[x, o]
        for j in range(1, size):
            top = max(top, a[x, o + j])
        total = a[x, o] * 0
        for j in range(size):
            e = math.exp(a[x, o + j] - top)  # every exponent ≤ 0
            a[x, o + j] = e
            total += e
        for j in range(size):
            a[x, o + j] = a[x, o + j] / total
    # IDENTITY: a = z


@njit(cache=True)
def _prime_times(d: Array, x: int, o: int, size: int, a: Array, code: int, one: Any) -> None:
    """d[x, o:o+size] ⊙= σ'(z^ℓ), with σ' read from the cached activation a (BP2's ⊙ σ'(z))."""
    if code == SIGMOID:
        for j in range(size):
            v = a[x, o + j]
            d[x, o + j] = d[x, o + j] * (v * (one - v))
    elif code == TANH:
        for j in range(size):
            v = a[x, o + j]
            d[x, o + j] = d[x, o + j] * (one - v * v)
    elif code == RELU:
        for j in range(size):
            if not a[x, o + j] > 0:  # a > 0 exactly where z > 0; 0 at z = 0, like PyTorch
                d[x, o + j] = 0


@njit(cache=True)
def _affine(
    theta: Array, w: int, bo: int, n_out: int, idx: Array, vals: Array, k0: int, k1: int, a: Array, x: int, o: int
) -> None:
    """z = b + Σ_k vals[k] W[:, idx[k]] (k0 ≤ k < k1) into a[x, o:o+n_out]; W^T (in, out) at theta[w:].

    The inputs are the non-zero pixels (idx, vals) of one example, or a dense row with idx = 0, 1, ….
    The outputs go in blocks of 16 (then 8) held in scalars, which the compiler keeps in vector
    registers for the whole sum instead of storing them after every input. The row index r is
    unsigned so that Numba adds no negative-index check to each of the 16 loads (3× faster).
    """
    jb = 0
    while jb + 16 <= n_out:
        r0 = bo + jb
        c0, c1, c2, c3 = theta[r0 + 0], theta[r0 + 1], theta[r0 + 2], theta[r0 + 3]
        c4, c5, c6, c7 = theta[r0 + 4], theta[r0 + 5], theta[r0 + 6], theta[r0 + 7]
        c8, c9, c10, c11 = theta[r0 + 8], theta[r0 + 9], theta[r0 + 10], theta[r0 + 11]
        c12, c13, c14, c15 = theta[r0 + 12], theta[r0 + 13], theta[r0 + 14], theta[r0 + 15]
        for k in range(k0, k1):
            v = vals[k]
            r = np.uint64(w + idx[k] * n_out + jb)
            c0 += v * theta[r + U0]
            c1 += v * theta[r + U1]
            c2 += v * theta[r + U2]
            c3 += v * theta[r + U3]
            c4 += v * theta[r + U4]
            c5 += v * theta[r + U5]
            c6 += v * theta[r + U6]
            c7 += v * theta[r + U7]
            c8 += v * theta[r + U8]
            c9 += v * theta[r + U9]
            c10 += v * theta[r + U10]
            c11 += v * theta[r + U11]
            c12 += v * theta[r + U12]
            c13 += v * theta[r + U13]
            c14 += v * theta[r + U14]
            c15 += v * theta[r + U15]
        a[x, o + jb + 0], a[x, o + jb + 1], a[x, o + jb + 2], a[x, o + jb + 3] = c0, c1, c2, c3
        a[x, o + jb + 4], a[x, o + jb + 5], a[x, o + jb + 6], a[x, o + jb + 7] = c4, c5, c6, c7
        a[x, o + jb + 8], a[x, o + jb + 9], a[x, o + jb + 10], a[x, o + jb + 11] = c8, c9, c10, c11
        a[x, o + jb + 12], a[x, o + jb + 13], a[x, o + jb + 14], a[x, o + jb + 15] = c12, c13, c14, c15
        jb += 16
    if jb + 8 <= n_out:
        r0 = bo + jb
        c0, c1, c2, c3 = theta[r0 + 0], theta[r0 + 1], theta[r0 + 2], theta[r0 + 3]
        c4, c5, c6, c7 = theta[r0 + 4], theta[r0 + 5], theta[r0 + 6], theta[r0 + 7]
        for k in range(k0, k1):
            v = vals[k]
            r = np.uint64(w + idx[k] * n_out + jb)
            c0 += v * theta[r + U0]
            c1 += v * theta[r + U1]
            c2 += v * theta[r + U2]
            c3 += v * theta[r + U3]
            c4 += v * theta[r + U4]
            c5 += v * theta[r + U5]
            c6 += v * theta[r + U6]
            c7 += v * theta[r + U7]
        a[x, o + jb + 0], a[x, o + jb + 1], a[x, o + jb + 2], a[x, o + jb + 3] = c0, c1, c2, c3
        a[x, o + jb + 4], a[x, o + jb + 5], a[x, o + jb + 6], a[x, o + jb + 7] = c4, c5, c6, c7
        jb += 8
    rem = n_out - jb
    if rem > 0:
        # the last 1–7 outputs as a block of 8 too (a scalar sum per output is 4× slower): the sums
        # beyond the row read its neighbours (theta is padded at the end) and are dropped, never stored
        r0 = bo + jb
        c0, c1, c2, c3 = theta[r0 + 0], theta[r0 + 1], theta[r0 + 2], theta[r0 + 3]
        c4, c5, c6, c7 = theta[r0 + 4], theta[r0 + 5], theta[r0 + 6], theta[r0 + 7]
        for k in range(k0, k1):
            v = vals[k]
            r = np.uint64(w + idx[k] * n_out + jb)
            c0 += v * theta[r + U0]
            c1 += v * theta[r + U1]
            c2 += v * theta[r + U2]
            c3 += v * theta[r + U3]
            c4 += v * theta[r + U4]
            c5 += v * theta[r + U5]
            c6 += v * theta[r + U6]
            c7 += v * theta[r + U7]
        a[x, o + jb] = c0
        if rem > 1:
            a[x, o + jb + 1] = c1
        if rem > 2:
            a[x, o + jb + 2] = c2
        if rem > 3:
            a[x, o + jb + 3] = c3
        if rem > 4:
            a[x, o + jb + 4] = c4
        if rem > 5:
            a[x, o + jb + 5] = c5
        if rem > 6:
            a[x, o + jb + 6] = c6


@njit(cache=True)
def _subtract_outer(
    theta: Array, w: int, n_out: int, idx: Array, vals: Array, k0: int, k1: int, d: Array, x: int, o: int
) -> None:
    """BP4 fused into the update: W[:, idx[k]] −= vals[k] δ_x for the inputs of ``_affine`` (same blocks)."""
    jb = 0
    while jb + 16 <= n_out:
        d0, d1, d2, d3 = d[x, o + jb + 0], d[x, o + jb + 1], d[x, o + jb + 2], d[x, o + jb + 3]
        d4, d5, d6, d7 = d[x, o + jb + 4], d[x, o + jb + 5], d[x, o + jb + 6], d[x, o + jb + 7]
        d8, d9, d10, d11 = d[x, o + jb + 8], d[x, o + jb + 9], d[x, o + jb + 10], d[x, o + jb + 11]
        d12, d13, d14, d15 = d[x, o + jb + 12], d[x, o + jb + 13], d[x, o + jb + 14], d[x, o + jb + 15]
        for k in range(k0, k1):
            v = vals[k]
            r = np.uint64(w + idx[k] * n_out + jb)
            theta[r + U0] -= v * d0
            theta[r + U1] -= v * d1
            theta[r + U2] -= v * d2
            theta[r + U3] -= v * d3
            theta[r + U4] -= v * d4
            theta[r + U5] -= v * d5
            theta[r + U6] -= v * d6
            theta[r + U7] -= v * d7
            theta[r + U8] -= v * d8
            theta[r + U9] -= v * d9
            theta[r + U10] -= v * d10
            theta[r + U11] -= v * d11
            theta[r + U12] -= v * d12
            theta[r + U13] -= v * d13
            theta[r + U14] -= v * d14
            theta[r + U15] -= v * d15
        jb += 16
    if jb + 8 <= n_out:
        d0, d1, d2, d3 = d[x, o + jb + 0], d[x, o + jb + 1], d[x, o + jb + 2], d[x, o + jb + 3]
        d4, d5, d6, d7 = d[x, o + jb + 4], d[x, o + jb + 5], d[x, o + jb + 6], d[x, o + jb + 7]
        for k in range(k0, k1):
            v = vals[k]
            r = np.uint64(w + idx[k] * n_out + jb)
            theta[r + U0] -= v * d0
            theta[r + U1] -= v * d1
            theta[r + U2] -= v * d2
            theta[r + U3] -= v * d3
            theta[r + U4] -= v * d4
            theta[r + U5] -= v * d5
            theta[r + U6] -= v * d6
            theta[r + U7] -= v * d7
        jb += 8
    for j in range(jb, n_out):
        dj = d[x, o + j]
        for k in range(k0, k1):
            theta[np.uint64(w + idx[k] * n_out + j)] -= vals[k] * dj


@njit(cache=True)
def _copy_untransposed(theta: Array, woff: Array, sizes: Array, wo: Array, wooff: Array) -> None:
    """wo[wooff[ℓ]:] = W^(ℓ+1) in (out, in) layout for ℓ ≥ 1, so that BP2's product W^T δ is a row sum."""
    for l in range(1, sizes.shape[0] - 1):
        n_in, n_out, w, c = sizes[l], sizes[l + 1], woff[l], wooff[l]
        for j in range(n_out):
            for i in range(n_in):
                wo[c + j * n_in + i] = theta[w + i * n_out + j]


@njit(cache=True)
def train_batches(
    theta: Array,  # (P,) every parameter: W^ℓ stored transposed (in, out) at woff[ℓ-1], b^ℓ at boff[ℓ-1]
    woff: Array,  # (L,) int64
    boff: Array,  # (L,) int64
    sizes: Array,  # (L+1,) int64 layer widths
    uoff: Array,  # (L,) int64: columns of layer ℓ's units in the rows of a and d
    acts: Array,  # (L,) int64 activation codes, the last one the output's
    cost_code: int,
    indptr: Array,  # (n+1,) int64: example e's non-zero inputs are indices/values[indptr[e]:indptr[e+1]]
    indices: Array,  # (nnz,) int32 input positions
    values: Array,  # (nnz,) input values
    Y: Array,  # (n, out) targets
    order: Array,  # (n,) int64: this epoch's permutation
    start: int,
    stop: int,
    batch_size: int,
    eta: float,
    decay: float,
    a: Array,  # (batch_size, Σ widths) activations a^ℓ of the batch, ℓ = 1…L (buffer)
    d: Array,  # (batch_size, Σ widths) errors δ^ℓ of the batch, already times η/m (buffer)
    zL: Array,  # (batch_size, out) z^L (buffer; the cross-entropy costs read it)
    s: Array,  # (4,) scratch in the parameters' dtype, for constants of that dtype
    iota: Array,  # (max width,) int32: 0, 1, 2, … (the positions of a dense row)
    wo: Array,  # (max width + Σ_{ℓ≥2} out·in,) zeros, then W^ℓ for ℓ ≥ 2 in (out, in) layout (buffer)
    wooff: Array,  # (L,) int64: where W^(ℓ+1) starts in wo (ℓ ≥ 1)
) -> float:
    """SGD on the batches order[k : k + batch_size] for k = start, start + batch_size, … < stop.

    Returns the sum over those batches of each batch's **mean** cost (before its step).
    """
    L = sizes.shape[0] - 1
    n_out = sizes[L]
    out_code = acts[L - 1]
    s[0] = 1
    one = s[0]
    s[1] = decay
    decay_t = s[1]
    if a.shape[0] < batch_size or d.shape[0] < batch_size or zL.shape[0] < batch_size:
        raise ValueError("train_batches: the a, d and zL buffers need a row per example of a batch")
    _copy_untransposed(theta, woff, sizes, wo, wooff)
    total_cost = 0.0
    touched = 0.0  # returned as nothing, but read, so the touching loads are kept
    for b0 in range(start, stop, batch_size):
        m = min(batch_size, stop - b0)
        s[2] = m / eta  # δ^L ÷ (m/η): the mean's 1/m and the learning rate in one division, as the engine
        m_over_eta = s[2]
        batch_cost = 0.0
        for x in range(m):
            e = order[b0 + x]
            if b0 + x + 2 < stop:  # touch the example after next: its pixels stream in while this one computes
                p = indptr[order[b0 + x + 2]]
                if p < indices.shape[0]:
                    touched += values[p] + indices[p] + Y[order[b0 + x + 2], 0]
            # -- forward: layer 1 on the non-zero inputs only, then the other layers dense
            for l in range(L):
                o, n_l = uoff[l], sizes[l + 1]
                if l == 0:
                    _affine(theta, woff[0], boff[0], n_l, indices, values, indptr[e], indptr[e + 1], a, x, o)
                else:
                    po = uoff[l - 1]
                    _affine(theta, woff[l], boff[l], n_l, iota, a[x, po : po + sizes[l]], 0, sizes[l], a, x, o)
                if l == L - 1:
                    for j in range(n_out):
                        zL[x, j] = a[x, o + j]
                _activate(a, x, o, n_l, acts[l], one)
            # -- the cost C_x and BP1: δ^L_x, divided by m/η
            o = uoff[L - 1]
            cost = 0.0
            if cost_code == QUADRATIC:
                for j in range(n_out):
                    g = a[x, o + j] - Y[e, j]  # ∂C_x/∂a = a − y
                    cost += 0.5 * g * g
                    d[x, o + j] = g
                if out_code == SOFTMAX:  # vector–Jacobian product: a ⊙ (g − Σ g a)
                    ga = a[x, o] * 0
                    for j in range(n_out):
                        ga += d[x, o + j] * a[x, o + j]
                    for j in range(n_out):
                        d[x, o + j] = a[x, o + j] * (d[x, o + j] - ga)
                else:
                    _prime_times(d, x, o, n_out, a, out_code, one)
            elif out_code == SOFTMAX:  # categorical cross-entropy: C_x = −Σ y log softmax(z); δ = a Σy − y
                top = zL[x, 0]
                for j in range(1, n_out):
                    top = max(top, zL[x, j])
                total = zL[x, 0] * 0
                ysum = zL[x, 0] * 0
                for j in range(n_out):
                    total += math.exp(zL[x, j] - top)
                    ysum += Y[e, j]
                log_total = math.log(total)
                for j in range(n_out):
                    cost -= Y[e, j] * (zL[x, j] - top - log_total)
                for j in range(n_out):
                    d[x, o + j] = a[x, o + j] * ysum - Y[e, j]
            else:  # binary cross-entropy after a sigmoid: C_x = Σ softplus(z) − y z; δ = a − y
                for j in range(n_out):
                    z = zL[x, j]
                    cost += max(z, 0) + math.log1p(math.exp(-abs(z))) - Y[e, j] * z
                    d[x, o + j] = a[x, o + j] - Y[e, j]
            for j in range(n_out):
                d[x, o + j] = d[x, o + j] / m_over_eta
            batch_cost += cost
            # -- BP2: δ^ℓ = (W^(ℓ+1)ᵀ δ^(ℓ+1)) ⊙ σ'(z^ℓ), ℓ = L−1 … 1, from the (out, in) copies in wo
            for l in range(L - 1, 0, -1):
                o, n_l, po, n_in = uoff[l], sizes[l + 1], uoff[l - 1], sizes[l]
                _affine(wo, wooff[l], 0, n_in, iota, d[x, o : o + n_l], 0, n_l, d, x, po)  # wo[:n] = 0: no bias
                _prime_times(d, x, po, n_in, a, acts[l - 1], one)
        total_cost += batch_cost / m
        # -- the update: weight decay, then BP3 and BP4 subtracted in place
        if decay != 1.0:
            for l in range(L):
                w = woff[l]
                for p in range(w, w + sizes[l] * sizes[l + 1]):
                    theta[p] *= decay_t
        for l in range(L):
            o, n_l, bo = uoff[l], sizes[l + 1], boff[l]
            for j in range(n_l):
                acc = d[0, o + j]
                for x in range(1, m):
                    acc += d[x, o + j]
                theta[bo + j] -= acc  # BP3: Σ_x δ_x
        for x in range(m):
            e = order[b0 + x]
            _subtract_outer(theta, woff[0], sizes[1], indices, values, indptr[e], indptr[e + 1], d, x, uoff[0])
            for l in range(1, L):  # BP4: δ^ℓ a^(ℓ-1)ᵀ, one example at a time
                po = uoff[l - 1]
                _subtract_outer(theta, woff[l], sizes[l + 1], iota, a[x, po : po + sizes[l]], 0, sizes[l], d, x, uoff[l])
        _copy_untransposed(theta, woff, sizes, wo, wooff)
    return total_cost + touched * 0.0


# ---------------------------------------------------------------------------------------------
# the backend


def sparse_rows(x: Array) -> tuple[Array, Array, Array]:
    """Each row's non-zero entries as (indptr (n+1,), indices (nnz,) int32, values (nnz,)), CSR-style."""
    nonzero = x != 0  # (n, in)
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    np.cumsum(nonzero.sum(axis=1), out=indptr[1:])
    rows, cols = np.nonzero(nonzero)  # row-major order, so each row's entries are consecutive
    return indptr, cols.astype(np.int32), np.ascontiguousarray(x[rows, cols])


class CompiledBackend(HandpropBackend):
    """``HandpropBackend`` whose steps run in ``train_batches`` (see the module docstring).

    Evaluation, costs for locating a NaN, snapshots and checkpoints go through the reference
    ``Network``, whose parameters are views of the compiled path's buffer.
    """

    engine = "compiled"

    def __init__(self, net: Network, lr: float, l2: float = 0.0) -> None:
        super().__init__(net, lr, l2)
        sizes = np.array(net.sizes, dtype=np.int64)
        L = len(sizes) - 1
        w_sizes = sizes[:-1] * sizes[1:]
        self._woff = np.zeros(L, dtype=np.int64)
        self._boff = np.zeros(L, dtype=np.int64)
        offset = 0
        for l in range(L):
            self._woff[l], offset = offset, offset + w_sizes[l]
            self._boff[l], offset = offset, offset + sizes[l + 1]
        self._theta = np.zeros(offset + PAD, dtype=net.dtype)  # (P,) every parameter, then PAD zeros
        weights, biases = [], []
        for l in range(L):
            n_in, n_out = int(sizes[l]), int(sizes[l + 1])
            WT = self._theta[self._woff[l] : self._woff[l] + n_in * n_out].reshape(n_in, n_out)  # (in, out)
            WT[...] = net.weights[l].T
            b = self._theta[self._boff[l] : self._boff[l] + n_out]  # (out,)
            b[...] = net.biases[l]
            weights.append(WT.T)  # (out, in) view of the same memory
            biases.append(b)
        net.weights, net.biases = weights, biases
        self._sizes = sizes
        self._uoff = np.concatenate([[0], np.cumsum(sizes[1:-1])]).astype(np.int64)  # (L,)
        self._units = int(sizes[1:].sum())
        self._acts = np.array([ACTIVATION_CODES[f.name] for f in net.activations], dtype=np.int64)
        self._cost = COST_CODES[net.cost_name]
        self._scratch = np.zeros(4, dtype=net.dtype)
        self._iota = np.arange(int(sizes.max()), dtype=np.int32)
        self._wooff = np.zeros(L, dtype=np.int64)
        offset = int(sizes.max())  # wo starts with zeros (BP2's "bias")
        for l in range(1, L):
            self._wooff[l], offset = offset, offset + w_sizes[l]
        self._wo = np.zeros(offset + PAD, dtype=net.dtype)
        self._buffers: tuple[Array, Array, Array] = self._make_buffers(1)
        self._sparse: tuple[Array, Array, Array] = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, net.dtype))

    def _make_buffers(self, m: int) -> tuple[Array, Array, Array]:
        dtype = self.net.dtype
        return (
            np.zeros((m, self._units), dtype=dtype),  # a^1 … a^L of each example, (m, Σ widths)
            np.zeros((m, self._units), dtype=dtype),  # δ^1 … δ^L
            np.zeros((m, int(self._sizes[-1])), dtype=dtype),  # z^L, (m, out)
        )

    def load_training_data(self, x: Array, y: Array) -> None:
        super().load_training_data(x, y)
        self._sparse = sparse_rows(self._x)
        self._y = np.ascontiguousarray(self._y)

    def begin_epoch(self, order: Array) -> None:
        self._order = np.ascontiguousarray(order, dtype=np.int64)

    def steps(self, start: int, stop: int, batch_size: int) -> float:
        """SGD on order[start:stop] in mini-batches of ``batch_size``; the sum of the batches' mean costs."""
        if self._buffers[0].shape[0] < batch_size:
            self._buffers = self._make_buffers(batch_size)  # made once per batch size, reused every step
        slp, numba.config.SLP_VECTORIZE = numba.config.SLP_VECTORIZE, 1  # see _SLP_WHY
        try:
            return train_batches(
                self._theta, self._woff, self._boff, self._sizes, self._uoff, self._acts, self._cost,
                *self._sparse, self._y, self._order, int(start), int(stop), int(batch_size),
                self.lr, self.decay, *self._buffers, self._scratch, self._iota, self._wo, self._wooff,
            )
        finally:
            numba.config.SLP_VECTORIZE = slp

    def step(self, start: int, stop: int) -> float:
        return self.steps(start, stop, stop - start)

    def parameters_finite(self) -> bool:
        return math.isfinite(self._theta.sum())  # NaN and inf propagate through the sum

    def set_parameters(self, weights: Sequence[Array], biases: Sequence[Array]) -> None:
        self.restore((weights, biases))  # in place, through the views: the buffer stays the same

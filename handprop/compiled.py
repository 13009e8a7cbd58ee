"""The training loop's steps compiled with Numba: the same BP1–BP4 as ``network.py``, without Python per step.

``network.py`` stays the text to read and the reference for everything; this module only makes the
training loop's SGD steps fast, and the tests check it against the reference step by step
(tests/test_compiled.py). One call of ``train_batches`` runs many mini-batches, each in the order of
the matrix form of ``network.py`` (rows x = 1…m of the batch):

    Z^1 = b^1 + Σ_{i : x_i ≠ 0} x_i W^1[:, i]  per row       only the non-zero pixels (MNIST: 19% of them)
    A^ℓ = σ(Z^ℓ),  Z^(ℓ+1) = b^(ℓ+1) + A^ℓ W^(ℓ+1)ᵀ
    BP1  Δ^L = ∇_a C ⊙ σ'(Z^L) / (m / η)                     (fused a − y for cross-entropy)
    BP2  Δ^ℓ = (Δ^(ℓ+1) W^(ℓ+1)) ⊙ σ'(Z^ℓ)
    then, every Δ of the batch computed from the same parameters:
    W^ℓ ← (1 − ηλ/n) W^ℓ − Δ^ℓᵀ A^(ℓ-1)                      BP4, subtracted in place; W^1 row by row,
    b^ℓ ← b^ℓ − Σ_x Δ^ℓ_x                                     BP3       on each example's non-zero pixels

Δ already carries η/m (as ``Network.cost_and_backprop_prepared(scale=η)`` does), so the update is
one subtraction. What makes it fast (each idea measured, docs/training.md):

- no allocation per step: the parameters live in one flat buffer ``theta`` (each weight matrix stored
  transposed, (in, out), so that every product is a "sum of rows" whose outputs the compiler keeps
  in vector registers without reassociating any sum), and the batch's activations and errors in
  buffers made once;
- each phase is one loop over the batch (the forward products, σ, BP1, BP2, the batch sums of BP3
  and BP4), so each loop stays small and hot, and the weight gradients of layers 2…L are summed over
  the batch in registers and written once per row instead of once per example; wide layers go four
  rows at a time (``_combine4``), so each piece of a weight matrix is loaded once for four examples;
- the inputs are each example's non-zero pixels (built once per dataset), packed as 32-bit codes
  "pixel << bits | value code" with a table of the distinct values (MNIST has 255), so the first
  layer's forward product and weight gradient skip the zeros and read 4 bytes per pixel;
- the next examples' codes are prefetched (``llvm.prefetch``) while the current one computes: the
  shuffled order reads them from all over memory;
- many batches per call, so Python runs once per window of batches, not once per step.

The network's ``weights`` and ``biases`` become views into ``theta`` (``weights[ℓ-1]`` is the
transpose of the stored (in, out) block), so the reference engine evaluates exactly the parameters
the compiled steps train, with no copying.

``CompiledBackend`` implements ``handprop.backend.Backend`` on its own (it builds on no other
backend): evaluation, the cost of one batch (to locate a NaN), snapshots and checkpoints go through
the reference ``Network`` and the shared helpers of ``handprop.backend``.

Numba is imported with this module, which ``handprop.backends`` imports only when the compiled
engine is asked for; ``cache=True`` keeps the machine code on disk, so only the first run on a
machine waits for the compiler.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable, Optional, Sequence

import numpy as np
import numba
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .backend import NetworkArrays, all_finite
from .data import pixel_table
from .network import Network

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
# on, for this module's functions only. It packs the 16 independent per-output sums of ``_combine``
# and the 16 updates of ``_subtract_outer`` into vector instructions; it never reorders a sum, so
# the results are bit for bit those of the scalar code. Measured: 2-3× faster first-layer loops.
_SLP_WHY = "see above"

# zeros after every buffer a product reads: the last block of 8 may read up to 7 entries past a row
PAD = 8

# the examples ahead whose codes are prefetched (2, 3 and 5 measured the same within noise)
AHEAD = 3

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


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """Ask the CPU to start loading ``array[index]`` into its caches (LLVM's ``llvm.prefetch``: read,
    keep in all levels); a hint that never faults and changes no value, unlike touching the entry."""
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_ptr)
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True)
def _activate(a: Array, U: int, m: int, o: int, size: int, code: int, one: Any) -> None:
    """a^ℓ = σ(z^ℓ) in place on columns o:o+size of the batch's m rows of width U (which hold z^ℓ on entry)."""
    for x in range(m):
        r = x * U + o
        if code == SIGMOID:
            for j in range(r, r + size):
                a[j] = one / (one + math.exp(-a[j]))  # exp overflow → inf → σ = 0, as the engine
        elif code == TANH:
            for j in range(r, r + size):
                a[j] = math.tanh(a[j])
        elif code == RELU:
            for j in range(r, r + size):
                if a[j] < 0:  # max(z, 0), keeping a NaN as the engine does
                    a[j] = 0
        elif code == SOFTMAX:
            top = a[r]
            for j in range(r + 1, r + size):
                top = max(top, a[j])
            total = a[r] * 0
            for j in range(r, r + size):
                e = math.exp(a[j] - top)  # every exponent ≤ 0
                a[j] = e
                total += e
            for j in range(r, r + size):
                a[j] = a[j] / total
        # IDENTITY: a = z


@njit(cache=True)
def _prime_times(d: Array, a: Array, U: int, m: int, o: int, size: int, code: int, one: Any) -> None:
    """δ ⊙= σ'(z^ℓ) on columns o:o+size of the batch's m rows, σ' read from the cached activation a (BP2)."""
    for x in range(m):
        r = x * U + o
        if code == SIGMOID:
            for j in range(r, r + size):
                d[j] = d[j] * (a[j] * (one - a[j]))
        elif code == TANH:
            for j in range(r, r + size):
                d[j] = d[j] * (one - a[j] * a[j])
        elif code == RELU:
            for j in range(r, r + size):
                if not a[j] > 0:  # a > 0 exactly where z > 0; 0 at z = 0, like PyTorch
                    d[j] = 0


@njit(cache=True)
def _combine(
    M: Array, mbase: int, mstride: int, n: int, vals: Array, vbase: int, vstride: int, k1: int,
    init: Array, ibase: int, out: Array, obase: int,
) -> None:
    """out[obase + j] = init[ibase + j] + Σ_{0 ≤ k < k1} vals[vbase + k·vstride] · M[mbase + k·mstride + j], j < n.

    The dense products of the kernel are all this one loop, a combination of rows of a matrix M: a
    layer's forward z = b + Σ_i a_i Wᵀ[i, :], BP2's Wᵀδ = Σ_j δ_j W[j, :], and the batch sums
    Σ_x δ_x (BP3) and Σ_x a_x,i δ_x (BP4). The outputs go in blocks of 16 (then 8) held in scalars,
    which the compiler keeps in vector registers for the whole sum; the indices are unsigned so that
    Numba adds no negative-index check. The last 1–7 outputs are a block of 8 too: its sums beyond n
    read past the row (M and init are padded at the end) and are dropped, never stored.
    """
    jb = 0
    while jb < n:
        r0 = np.uint64(ibase + jb)
        c0, c1, c2, c3 = init[r0 + U0], init[r0 + U1], init[r0 + U2], init[r0 + U3]
        c4, c5, c6, c7 = init[r0 + U4], init[r0 + U5], init[r0 + U6], init[r0 + U7]
        if jb + 16 <= n:
            c8, c9, c10, c11 = init[r0 + U8], init[r0 + U9], init[r0 + U10], init[r0 + U11]
            c12, c13, c14, c15 = init[r0 + U12], init[r0 + U13], init[r0 + U14], init[r0 + U15]
            for k in range(k1):
                v = vals[np.uint64(vbase + k * vstride)]
                r = np.uint64(mbase + k * mstride + jb)
                c0 += v * M[r + U0]
                c1 += v * M[r + U1]
                c2 += v * M[r + U2]
                c3 += v * M[r + U3]
                c4 += v * M[r + U4]
                c5 += v * M[r + U5]
                c6 += v * M[r + U6]
                c7 += v * M[r + U7]
                c8 += v * M[r + U8]
                c9 += v * M[r + U9]
                c10 += v * M[r + U10]
                c11 += v * M[r + U11]
                c12 += v * M[r + U12]
                c13 += v * M[r + U13]
                c14 += v * M[r + U14]
                c15 += v * M[r + U15]
            r0 = np.uint64(obase + jb)
            out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c0, c1, c2, c3
            out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c4, c5, c6, c7
            out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c8, c9, c10, c11
            out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c12, c13, c14, c15
            jb += 16
            continue
        for k in range(k1):
            v = vals[np.uint64(vbase + k * vstride)]
            r = np.uint64(mbase + k * mstride + jb)
            c0 += v * M[r + U0]
            c1 += v * M[r + U1]
            c2 += v * M[r + U2]
            c3 += v * M[r + U3]
            c4 += v * M[r + U4]
            c5 += v * M[r + U5]
            c6 += v * M[r + U6]
            c7 += v * M[r + U7]
        _store8(out, np.uint64(obase + jb), n - jb, c0, c1, c2, c3, c4, c5, c6, c7)
        jb += 8


@njit(cache=True)
def _combine4(
    M: Array, mbase: int, mstride: int, n: int, vals: Array, vbase: int, vrow: int, vstride: int, k1: int,
    init: Array, ibase: int, out: Array, obase: int, orow: int,
) -> None:
    """``_combine`` for four rows at once (q = 0…3: vals at vbase + q·vrow, out at obase + q·orow), n a multiple of 16.

    Each 16-wide piece of a row of M is loaded once for the four rows instead of once per row: a
    wide layer's weights stream from memory a quarter as often (784-512-512-10: 1.6x faster epochs).
    Every output is the same sum, in the same order, as ``_combine``'s, so the results are identical.
    """
    for jb in range(0, n, 16):
        r0 = np.uint64(ibase + jb)
        c0_0 = c1_0 = c2_0 = c3_0 = init[r0 + U0]
        c0_1 = c1_1 = c2_1 = c3_1 = init[r0 + U1]
        c0_2 = c1_2 = c2_2 = c3_2 = init[r0 + U2]
        c0_3 = c1_3 = c2_3 = c3_3 = init[r0 + U3]
        c0_4 = c1_4 = c2_4 = c3_4 = init[r0 + U4]
        c0_5 = c1_5 = c2_5 = c3_5 = init[r0 + U5]
        c0_6 = c1_6 = c2_6 = c3_6 = init[r0 + U6]
        c0_7 = c1_7 = c2_7 = c3_7 = init[r0 + U7]
        c0_8 = c1_8 = c2_8 = c3_8 = init[r0 + U8]
        c0_9 = c1_9 = c2_9 = c3_9 = init[r0 + U9]
        c0_10 = c1_10 = c2_10 = c3_10 = init[r0 + U10]
        c0_11 = c1_11 = c2_11 = c3_11 = init[r0 + U11]
        c0_12 = c1_12 = c2_12 = c3_12 = init[r0 + U12]
        c0_13 = c1_13 = c2_13 = c3_13 = init[r0 + U13]
        c0_14 = c1_14 = c2_14 = c3_14 = init[r0 + U14]
        c0_15 = c1_15 = c2_15 = c3_15 = init[r0 + U15]
        for k in range(k1):
            v0 = vals[np.uint64(vbase + k * vstride)]
            v1 = vals[np.uint64(vbase + vrow + k * vstride)]
            v2 = vals[np.uint64(vbase + 2 * vrow + k * vstride)]
            v3 = vals[np.uint64(vbase + 3 * vrow + k * vstride)]
            r = np.uint64(mbase + k * mstride + jb)
            w = M[r + U0]
            c0_0 += v0 * w
            c1_0 += v1 * w
            c2_0 += v2 * w
            c3_0 += v3 * w
            w = M[r + U1]
            c0_1 += v0 * w
            c1_1 += v1 * w
            c2_1 += v2 * w
            c3_1 += v3 * w
            w = M[r + U2]
            c0_2 += v0 * w
            c1_2 += v1 * w
            c2_2 += v2 * w
            c3_2 += v3 * w
            w = M[r + U3]
            c0_3 += v0 * w
            c1_3 += v1 * w
            c2_3 += v2 * w
            c3_3 += v3 * w
            w = M[r + U4]
            c0_4 += v0 * w
            c1_4 += v1 * w
            c2_4 += v2 * w
            c3_4 += v3 * w
            w = M[r + U5]
            c0_5 += v0 * w
            c1_5 += v1 * w
            c2_5 += v2 * w
            c3_5 += v3 * w
            w = M[r + U6]
            c0_6 += v0 * w
            c1_6 += v1 * w
            c2_6 += v2 * w
            c3_6 += v3 * w
            w = M[r + U7]
            c0_7 += v0 * w
            c1_7 += v1 * w
            c2_7 += v2 * w
            c3_7 += v3 * w
            w = M[r + U8]
            c0_8 += v0 * w
            c1_8 += v1 * w
            c2_8 += v2 * w
            c3_8 += v3 * w
            w = M[r + U9]
            c0_9 += v0 * w
            c1_9 += v1 * w
            c2_9 += v2 * w
            c3_9 += v3 * w
            w = M[r + U10]
            c0_10 += v0 * w
            c1_10 += v1 * w
            c2_10 += v2 * w
            c3_10 += v3 * w
            w = M[r + U11]
            c0_11 += v0 * w
            c1_11 += v1 * w
            c2_11 += v2 * w
            c3_11 += v3 * w
            w = M[r + U12]
            c0_12 += v0 * w
            c1_12 += v1 * w
            c2_12 += v2 * w
            c3_12 += v3 * w
            w = M[r + U13]
            c0_13 += v0 * w
            c1_13 += v1 * w
            c2_13 += v2 * w
            c3_13 += v3 * w
            w = M[r + U14]
            c0_14 += v0 * w
            c1_14 += v1 * w
            c2_14 += v2 * w
            c3_14 += v3 * w
            w = M[r + U15]
            c0_15 += v0 * w
            c1_15 += v1 * w
            c2_15 += v2 * w
            c3_15 += v3 * w
        r0 = np.uint64(obase + jb)
        out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c0_0, c0_1, c0_2, c0_3
        out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c0_4, c0_5, c0_6, c0_7
        out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c0_8, c0_9, c0_10, c0_11
        out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c0_12, c0_13, c0_14, c0_15
        r0 = np.uint64(obase + 1 * orow + jb)
        out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c1_0, c1_1, c1_2, c1_3
        out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c1_4, c1_5, c1_6, c1_7
        out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c1_8, c1_9, c1_10, c1_11
        out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c1_12, c1_13, c1_14, c1_15
        r0 = np.uint64(obase + 2 * orow + jb)
        out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c2_0, c2_1, c2_2, c2_3
        out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c2_4, c2_5, c2_6, c2_7
        out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c2_8, c2_9, c2_10, c2_11
        out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c2_12, c2_13, c2_14, c2_15
        r0 = np.uint64(obase + 3 * orow + jb)
        out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c3_0, c3_1, c3_2, c3_3
        out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c3_4, c3_5, c3_6, c3_7
        out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c3_8, c3_9, c3_10, c3_11
        out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c3_12, c3_13, c3_14, c3_15


@njit(cache=True)
def _combine_rows(
    M: Array, mbase: int, mstride: int, n: int, vals: Array, vbase: int, vrow: int, vstride: int, k1: int,
    init: Array, ibase: int, out: Array, obase: int, orow: int, rows: int,
) -> None:
    """``_combine`` for rows q = 0…rows−1 (vals at vbase + q·vrow, out at obase + q·orow).

    Four rows at a time through ``_combine4`` for the outputs in whole blocks of 16; the other
    outputs, and the rows left over, through ``_combine``.
    """
    n16 = n // 16 * 16
    q = 0
    while n16 > 0 and q + 4 <= rows:
        _combine4(M, mbase, mstride, n16, vals, vbase + q * vrow, vrow, vstride, k1, init, ibase, out, obase + q * orow, orow)
        q += 4
    if n16 < n:  # the last n − n16 outputs of the rows done four at a time
        for y in range(q):
            _combine(M, mbase + n16, mstride, n - n16, vals, vbase + y * vrow, vstride, k1, init, ibase + n16, out, obase + y * orow + n16)
    for y in range(q, rows):
        _combine(M, mbase, mstride, n, vals, vbase + y * vrow, vstride, k1, init, ibase, out, obase + y * orow)


@njit(cache=True)
def _store8(out: Array, r0: Any, count: int, c0: Any, c1: Any, c2: Any, c3: Any, c4: Any, c5: Any, c6: Any, c7: Any) -> None:
    """out[r0 : r0 + min(count, 8)] = c0, c1, …: a block of 8 sums, of which only the first ``count`` are real."""
    if count >= 8:
        out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c0, c1, c2, c3
        out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c4, c5, c6, c7
        return
    out[r0] = c0
    if count > 1:
        out[r0 + U1] = c1
    if count > 2:
        out[r0 + U2] = c2
    if count > 3:
        out[r0 + U3] = c3
    if count > 4:
        out[r0 + U4] = c4
    if count > 5:
        out[r0 + U5] = c5
    if count > 6:
        out[r0 + U6] = c6


@njit(cache=True)
def _sparse_combine(
    theta: Array, w: int, bo: int, n: int, codes: Array, table: Array, bits: int, k0: int, k1: int,
    out: Array, obase: int,
) -> None:
    """Layer 1's forward product on one example: out[obase + j] = b_j + Σ_k x_i Wᵀ[i, j] over its pixels.

    codes[k0:k1] are the example's non-zero pixels, each ``i << bits | c`` with x_i = table[c]
    (``encode_inputs``); Wᵀ (in, n) is at theta[w:], b at theta[bo:]. The same blocks as ``_combine``.
    """
    mask = (1 << bits) - 1
    jb = 0
    while jb < n:
        r0 = np.uint64(bo + jb)
        c0, c1, c2, c3 = theta[r0 + U0], theta[r0 + U1], theta[r0 + U2], theta[r0 + U3]
        c4, c5, c6, c7 = theta[r0 + U4], theta[r0 + U5], theta[r0 + U6], theta[r0 + U7]
        if jb + 16 <= n:
            c8, c9, c10, c11 = theta[r0 + U8], theta[r0 + U9], theta[r0 + U10], theta[r0 + U11]
            c12, c13, c14, c15 = theta[r0 + U12], theta[r0 + U13], theta[r0 + U14], theta[r0 + U15]
            for k in range(k0, k1):
                p = np.int64(codes[k])
                v = table[p & mask]
                r = np.uint64(w + (p >> bits) * n + jb)
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
            r0 = np.uint64(obase + jb)
            out[r0 + U0], out[r0 + U1], out[r0 + U2], out[r0 + U3] = c0, c1, c2, c3
            out[r0 + U4], out[r0 + U5], out[r0 + U6], out[r0 + U7] = c4, c5, c6, c7
            out[r0 + U8], out[r0 + U9], out[r0 + U10], out[r0 + U11] = c8, c9, c10, c11
            out[r0 + U12], out[r0 + U13], out[r0 + U14], out[r0 + U15] = c12, c13, c14, c15
            jb += 16
            continue
        for k in range(k0, k1):
            p = np.int64(codes[k])
            v = table[p & mask]
            r = np.uint64(w + (p >> bits) * n + jb)
            c0 += v * theta[r + U0]
            c1 += v * theta[r + U1]
            c2 += v * theta[r + U2]
            c3 += v * theta[r + U3]
            c4 += v * theta[r + U4]
            c5 += v * theta[r + U5]
            c6 += v * theta[r + U6]
            c7 += v * theta[r + U7]
        _store8(out, np.uint64(obase + jb), n - jb, c0, c1, c2, c3, c4, c5, c6, c7)
        jb += 8


@njit(cache=True)
def _subtract_outer(
    theta: Array, w: int, n: int, codes: Array, table: Array, bits: int, k0: int, k1: int, d: Array, o: int
) -> None:
    """Layer 1's BP4 for one example, subtracted in place: Wᵀ[i, :] −= x_i δ^1 (δ^1 at d[o:o+n]) over its pixels."""
    mask = (1 << bits) - 1
    jb = 0
    while jb + 16 <= n:
        r0 = np.uint64(o + jb)
        d0, d1, d2, d3 = d[r0 + U0], d[r0 + U1], d[r0 + U2], d[r0 + U3]
        d4, d5, d6, d7 = d[r0 + U4], d[r0 + U5], d[r0 + U6], d[r0 + U7]
        d8, d9, d10, d11 = d[r0 + U8], d[r0 + U9], d[r0 + U10], d[r0 + U11]
        d12, d13, d14, d15 = d[r0 + U12], d[r0 + U13], d[r0 + U14], d[r0 + U15]
        for k in range(k0, k1):
            p = np.int64(codes[k])
            v = table[p & mask]
            r = np.uint64(w + (p >> bits) * n + jb)
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
    if jb + 8 <= n:
        r0 = np.uint64(o + jb)
        d0, d1, d2, d3 = d[r0 + U0], d[r0 + U1], d[r0 + U2], d[r0 + U3]
        d4, d5, d6, d7 = d[r0 + U4], d[r0 + U5], d[r0 + U6], d[r0 + U7]
        for k in range(k0, k1):
            p = np.int64(codes[k])
            v = table[p & mask]
            r = np.uint64(w + (p >> bits) * n + jb)
            theta[r + U0] -= v * d0
            theta[r + U1] -= v * d1
            theta[r + U2] -= v * d2
            theta[r + U3] -= v * d3
            theta[r + U4] -= v * d4
            theta[r + U5] -= v * d5
            theta[r + U6] -= v * d6
            theta[r + U7] -= v * d7
        jb += 8
    for j in range(jb, n):
        dj = d[o + j]
        for k in range(k0, k1):
            p = np.int64(codes[k])
            theta[np.uint64(w + (p >> bits) * n + j)] -= table[p & mask] * dj


@njit(cache=True)
def _copy_untransposed(theta: Array, woff: Array, sizes: Array, wo: Array, wooff: Array) -> None:
    """wo[wooff[ℓ]:] = W^(ℓ+1) in (out, in) layout for ℓ ≥ 1, so that BP2's product W^T δ is a sum of rows."""
    for l in range(1, sizes.shape[0] - 1):
        n_in, n_out, w, c = sizes[l], sizes[l + 1], woff[l], wooff[l]
        for i0 in range(0, n_in, 16):  # in tiles of 16 × 16, so that both sides stay in the cache (512 × 512: 4× faster)
            for j0 in range(0, n_out, 16):
                for j in range(j0, min(j0 + 16, n_out)):
                    for i in range(i0, min(i0 + 16, n_in)):
                        wo[c + j * n_in + i] = theta[w + i * n_out + j]


@njit(cache=True)
def train_batches(
    theta: Array,  # (P + PAD,) every parameter: W^ℓ stored transposed (in, out) at woff[ℓ-1], b^ℓ at boff[ℓ-1]
    woff: Array,  # (L,) int64
    boff: Array,  # (L,) int64
    sizes: Array,  # (L+1,) int64 layer widths
    uoff: Array,  # (L,) int64: columns of layer ℓ's units in the rows of a and d
    acts: Array,  # (L,) int64 activation codes, the last one the output's
    cost_code: int,
    indptr: Array,  # (n+1,) int64: example e's non-zero inputs are codes[indptr[e]:indptr[e+1]]
    codes: Array,  # (nnz,) uint32 or int64: input position << bits | index into table
    table: Array,  # (distinct values,) the input values
    bits: int,
    Y: Array,  # (n, out) targets
    order: Array,  # (n,) int64: this epoch's permutation
    start: int,
    stop: int,
    batch_size: int,
    eta: float,
    decay: float,
    a: Array,  # (batch_size·U + PAD,) row x (width U = Σ widths) holds a^1 … a^L of the batch's example x
    d: Array,  # (batch_size·U + PAD,) the same for δ^1 … δ^L, already times η/m
    zL: Array,  # (batch_size·out,) z^L, for the cross-entropy costs
    g: Array,  # (4 · max width + PAD,) four rows of a batch sum
    zeros: Array,  # (max width + PAD,) zeros
    s: Array,  # (4,) scratch in the parameters' dtype, for constants of that dtype
    wo: Array,  # (Σ_{ℓ≥2} out·in + PAD,) W^ℓ for ℓ ≥ 2 in (out, in) layout
    wooff: Array,  # (L,) int64: where W^(ℓ+1) starts in wo (ℓ ≥ 1)
) -> float:
    """SGD on the batches order[k : k + batch_size] for k = start, start + batch_size, … < stop.

    Returns the sum over those batches of each batch's **mean** cost (before its step).
    """
    L = sizes.shape[0] - 1
    n_out = sizes[L]
    U = uoff[L - 1] + n_out
    out_code = acts[L - 1]
    s[0] = 1
    one = s[0]
    s[1] = decay
    decay_t = s[1]
    if a.shape[0] < batch_size * U + PAD or d.shape[0] < batch_size * U + PAD or zL.shape[0] < batch_size * n_out:
        raise ValueError("train_batches: the a, d and zL buffers need a row per example of a batch")
    per_line = max(1, 64 // codes.itemsize)  # codes per 64-byte cache line, for the prefetches
    _copy_untransposed(theta, woff, sizes, wo, wooff)
    total_cost = 0.0
    for b0 in range(start, stop, batch_size):
        m = min(batch_size, stop - b0)
        s[2] = m / eta  # δ^L ÷ (m/η): the mean's 1/m and the learning rate in one division, as the engine
        m_over_eta = s[2]
        # -- forward: layer 1 on each example's non-zero inputs only, then the other layers dense
        for l in range(L):
            o = uoff[l]
            if l == 0:
                for x in range(m):
                    if b0 + x + AHEAD < stop:  # the codes of an example a few ahead stream in while this one computes
                        e = order[b0 + x + AHEAD]
                        for p in range(indptr[e], indptr[e + 1], per_line):
                            prefetch(codes, p)
                        prefetch(Y, e * n_out)
                    if b0 + x + 2 * AHEAD < stop:
                        prefetch(indptr, order[b0 + x + 2 * AHEAD])
                    e = order[b0 + x]
                    _sparse_combine(theta, woff[0], boff[0], sizes[1], codes, table, bits, indptr[e], indptr[e + 1], a, x * U)
            else:  # z^(ℓ+1)_x = b + Σ_i a^ℓ_x,i Wᵀ[i, :]
                _combine_rows(theta, woff[l], sizes[l + 1], sizes[l + 1], a, uoff[l - 1], U, 1, sizes[l], theta, boff[l], a, o, U, m)
            if l == L - 1 and cost_code == CROSS_ENTROPY:  # only the cross-entropy costs read z^L
                for x in range(m):
                    for j in range(n_out):
                        zL[x * n_out + j] = a[x * U + o + j]
            _activate(a, U, m, o, sizes[l + 1], acts[l], one)
        # -- the cost C_x and BP1: δ^L_x, divided by m/η
        batch_cost = 0.0
        for x in range(m):
            e = order[b0 + x]
            o = x * U + uoff[L - 1]
            z = x * n_out
            cost = 0.0
            if cost_code == QUADRATIC:
                for j in range(n_out):
                    gj = a[o + j] - Y[e, j]  # ∂C_x/∂a = a − y
                    cost += 0.5 * gj * gj
                    d[o + j] = gj
                if out_code == SOFTMAX:  # vector–Jacobian product: a ⊙ (g − Σ g a)
                    ga = a[o] * 0
                    for j in range(n_out):
                        ga += d[o + j] * a[o + j]
                    for j in range(n_out):
                        d[o + j] = a[o + j] * (d[o + j] - ga)
            elif out_code == SOFTMAX:  # categorical cross-entropy: C_x = −Σ y log softmax(z); δ = a Σy − y
                top = zL[z]
                for j in range(1, n_out):
                    top = max(top, zL[z + j])
                total = zL[z] * 0
                ysum = zL[z] * 0
                for j in range(n_out):
                    total += math.exp(zL[z + j] - top)
                    ysum += Y[e, j]
                log_total = math.log(total)
                for j in range(n_out):
                    cost -= Y[e, j] * (zL[z + j] - top - log_total)
                for j in range(n_out):
                    d[o + j] = a[o + j] * ysum - Y[e, j]
            else:  # binary cross-entropy after a sigmoid: C_x = Σ softplus(z) − y z; δ = a − y
                for j in range(n_out):
                    zj = zL[z + j]
                    cost += max(zj, 0) + math.log1p(math.exp(-abs(zj))) - Y[e, j] * zj
                    d[o + j] = a[o + j] - Y[e, j]
            batch_cost += cost
        if cost_code == QUADRATIC and out_code != SOFTMAX:
            _prime_times(d, a, U, m, uoff[L - 1], n_out, out_code, one)
        for x in range(m):
            o = x * U + uoff[L - 1]
            for j in range(o, o + n_out):
                d[j] = d[j] / m_over_eta
        total_cost += batch_cost / m
        # -- BP2: δ^ℓ_x = (Σ_j δ^(ℓ+1)_x,j W^(ℓ+1)[j, :]) ⊙ σ'(z^ℓ_x), ℓ = L−1 … 1, from the (out, in) copies in wo
        for l in range(L - 1, 0, -1):
            o, po, n_l, n_in = uoff[l], uoff[l - 1], sizes[l + 1], sizes[l]
            _combine_rows(wo, wooff[l], n_in, n_in, d, o, U, 1, n_l, zeros, 0, d, po, U, m)
            _prime_times(d, a, U, m, po, n_in, acts[l - 1], one)
        # -- the update: weight decay, then BP3 and BP4 subtracted in place
        if decay != 1.0:
            for l in range(L):
                w = woff[l]
                for p in range(w, w + sizes[l] * sizes[l + 1]):
                    theta[p] *= decay_t
        s[3] = 1
        for l in range(L):  # BP3: b −= Σ_x δ_x (a sum of the batch's rows, each times s[3] = 1)
            n_l, bo = sizes[l + 1], boff[l]
            _combine(d, uoff[l], U, n_l, s, 3, 0, m, zeros, 0, g, 0)
            for j in range(n_l):
                theta[bo + j] -= g[j]
        for l in range(1, L):  # BP4, ℓ ≥ 2: row i of Wᵀ −= Σ_x a^(ℓ-1)_x,i δ^ℓ_x, four rows i at a time
            n_in, n_l, w = sizes[l], sizes[l + 1], woff[l]
            for i0 in range(0, n_in, 4):
                rows = min(4, n_in - i0)
                _combine_rows(d, uoff[l], U, n_l, a, uoff[l - 1] + i0, 1, U, m, zeros, 0, g, 0, n_l, rows)
                for j in range(rows * n_l):
                    theta[w + i0 * n_l + j] -= g[j]
        for x in range(m):  # BP4 of layer 1, one example at a time, on its non-zero inputs
            e = order[b0 + x]
            _subtract_outer(theta, woff[0], sizes[1], codes, table, bits, indptr[e], indptr[e + 1], d, x * U)
        _copy_untransposed(theta, woff, sizes, wo, wooff)
    return total_cost


# ---------------------------------------------------------------------------------------------
# the backend

# at most this many distinct input values are kept as a table (MNIST's non-zero pixels k/255: 255)
TABLE_LIMIT = 256


def sparse_rows(x: Array, chunk: int = 4096) -> tuple[Array, Array, Array]:
    """Each row's non-zero entries as (indptr (n+1,), indices (nnz,), values (nnz,)), CSR-style.

    Indices are uint16 where the rows are narrow enough (MNIST: 784), else int32; ``chunk`` rows at a
    time, so the temporary index arrays stay small (all of MNIST at once: 190 MB of int64).
    """
    n = x.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    for start in range(0, n, chunk):
        indptr[start + 1 : start + chunk + 1] = np.count_nonzero(x[start : start + chunk], axis=1)
    np.cumsum(indptr, out=indptr)
    indices = np.empty(int(indptr[-1]), dtype=np.uint16 if x.shape[1] <= 2**16 else np.int32)
    values = np.empty(int(indptr[-1]), dtype=x.dtype)
    for start in range(0, n, chunk):
        block = x[start : start + chunk]
        rows, cols = np.nonzero(block)  # row-major order, so each row's entries are consecutive
        lo, hi = indptr[start], indptr[min(start + chunk, n)]
        indices[lo:hi] = cols
        values[lo:hi] = block[rows, cols]
    return indptr, indices, values


def encode_inputs(x: Array) -> tuple[Array, Array, Array, int]:
    """Each row's non-zero entries as packed codes: (indptr (n+1,), codes (nnz,), table, bits).

    Entry k of row r is x[r, codes[k] >> bits] = table[codes[k] & (2**bits − 1)] for
    indptr[r] ≤ k < indptr[r+1], in column order. With at most ``TABLE_LIMIT`` distinct values the
    table holds them (exactly, so the products are those of x itself) and a code is 4 bytes, the
    pixel and its value in one load; otherwise the table is the list of values itself and each code
    points at its own entry.
    """
    pixel_values = pixel_table(x.dtype)  # k/255, as the data loader scales bytes
    packed = _pixel_codes(x, pixel_values)
    if packed is not None:  # image bytes: one pass over x, no list of non-zeros first (0.1 s for MNIST, not 0.8 s)
        return packed
    indptr, indices, values = sparse_rows(x)
    distinct = np.unique(values[:: max(1, len(values) // 65536)])  # a sample's (all 9 M of MNIST: 1.4 s)
    if len(distinct) and np.isin(distinct, pixel_values).all():
        distinct = pixel_values  # image bytes: every value the sample missed is one of these (one pass, not three)
    packed = _table_codes(x.shape[1], indices, values, distinct)
    if packed is None and len(distinct) <= TABLE_LIMIT:  # the sample missed a value: look at them all
        distinct = np.unique(values)
        packed = _table_codes(x.shape[1], indices, values, distinct)
    if packed is not None:
        return indptr, packed[0], distinct, packed[1]
    bits = max(1, (len(values) - 1).bit_length())
    codes = np.empty(len(values), dtype=np.uint32 if x.shape[1] << bits <= 2**32 else np.int64)
    codes[:] = (indices.astype(np.int64) << bits) | np.arange(len(values))
    return indptr, codes, values, bits


def _pixel_codes(x: Array, pixel_values: Array) -> tuple[Array, Array, Array, int] | None:
    """``encode_inputs``' result when every non-zero of x is a pixel value k/255 (MNIST), else None.

    A sample of rows decides whether to try; the codes are then those of ``_table_codes`` with the
    table ``pixel_values``, written in one pass over x (a value off the table: None, and the general
    path takes over)."""
    if x.ndim != 2 or not x.size or x.dtype.kind != "f":
        return None
    sample = x[:: max(1, x.shape[0] // 256)]
    sample = sample[sample != 0]
    if not sample.size or not np.isin(sample, pixel_values).all():
        return None
    indptr = np.zeros(x.shape[0] + 1, dtype=np.int64)
    _count_rows(x, indptr)
    bits = max(1, (len(pixel_values) - 1).bit_length())
    codes = np.empty(int(indptr[-1]), dtype=np.uint32 if x.shape[1] << bits <= 2**32 else np.int64)
    if not _pack_pixels(x, pixel_values, bits, codes):
        return None
    return indptr, codes, pixel_values, bits


@njit(cache=True)
def _count_rows(x: Array, indptr: Array) -> None:
    """indptr[r + 1] = the number of non-zeros in rows 0 … r of x (CSR's row pointers)."""
    total = 0
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[r, j] != 0:
                total += 1
        indptr[r + 1] = total


@njit(cache=True)
def _table_index(distinct: Array, v: Any) -> int:
    """Where v is in the sorted ``distinct``, or −1: a fixed number of halvings (np.searchsorted took 0.55 s for MNIST)."""
    lo, length = 0, distinct.shape[0]
    while length > 1:
        half = length // 2
        lo = lo + half if distinct[lo + half - 1] < v else lo
        length -= half
    if distinct[lo] < v:
        lo += 1
    if lo == distinct.shape[0] or distinct[lo] != v:
        return -1
    return lo


@njit(cache=True)
def _pack_pixels(x: Array, pixel_values: Array, bits: int, codes: Array) -> bool:
    """codes of x's non-zeros row by row, each column << bits | k where the value is k/255 (as
    ``_pack_codes`` writes them from ``sparse_rows`` with the table of pixel values); k is read off
    the value, then checked against the table. False at the first value that is no pixel value."""
    k = 0
    last = pixel_values.shape[0] - 1
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[r, j]
            if v != 0:
                level = int(v * last + 0.5)
                if level < 0 or level > last or pixel_values[level] != v:
                    return False
                codes[k] = (np.int64(j) << bits) | level
                k += 1
    return True


def _table_codes(n_in: int, indices: Array, values: Array, distinct: Array) -> tuple[Array, int] | None:
    """(codes, bits) that point into ``distinct``, or None if it has too many values or lacks one."""
    if not 0 < len(distinct) <= TABLE_LIMIT:
        return None
    bits = max(1, (len(distinct) - 1).bit_length())
    codes = np.empty(len(values), dtype=np.uint32 if n_in << bits <= 2**32 else np.int64)
    return (codes, bits) if _pack_codes(indices, values, distinct, bits, codes) else None


@njit(cache=True)
def _pack_codes(indices: Array, values: Array, distinct: Array, bits: int, codes: Array) -> bool:
    """codes[k] = indices[k] << bits | (where values[k] is in the sorted ``distinct``); False if it is not."""
    for k in range(values.shape[0]):
        lo = _table_index(distinct, values[k])
        if lo < 0:
            return False
        codes[k] = (np.int64(indices[k]) << bits) | lo
    return True


class CompiledBackend(NetworkArrays):
    """The training steps in ``train_batches`` (see the module docstring); a ``handprop.backend.Backend``.

    Evaluation, costs for locating a NaN, snapshots and checkpoints go through the reference
    ``Network``, whose parameters are views of the compiled path's buffer.
    """

    name = "handprop"
    engine = "compiled"

    def __init__(self, net: Network, lr: float, l2: float = 0.0) -> None:
        super().__init__(net, lr, l2)
        self._x: Array = np.zeros((0, net.sizes[0]), dtype=net.dtype)
        self._y: Array = np.zeros((0, net.sizes[-1]), dtype=net.dtype)
        self._order: Array = np.zeros(0, dtype=np.int64)
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
        self._wooff = np.zeros(L, dtype=np.int64)
        offset = 0
        for l in range(1, L):
            self._wooff[l], offset = offset, offset + w_sizes[l]
        self._wo = np.zeros(offset + PAD, dtype=net.dtype)  # (Σ_{ℓ≥2} out·in + PAD,)
        self._g = np.zeros(4 * int(sizes.max()) + PAD, dtype=net.dtype)  # four rows of a batch sum
        self._zeros = np.zeros(int(sizes.max()) + PAD, dtype=net.dtype)
        self._buffers: tuple[Array, Array, Array] = self._make_buffers(1)
        self._inputs: tuple[Array, Array, Array, int] = encode_inputs(np.zeros((1, int(sizes[0])), dtype=net.dtype))

    def _make_buffers(self, m: int) -> tuple[Array, Array, Array]:
        dtype = self.net.dtype
        return (
            np.zeros(m * self._units + PAD, dtype=dtype),  # a^1 … a^L of each example: m rows of Σ widths
            np.zeros(m * self._units + PAD, dtype=dtype),  # δ^1 … δ^L, the same
            np.zeros(m * int(self._sizes[-1]), dtype=dtype),  # z^L: m rows of out
        )

    def load_training_data(self, x: Array, y: Array) -> None:
        self._keep_training_data(x, y)
        self._inputs = encode_inputs(self._x)
        self._y = np.ascontiguousarray(self._y)

    def begin_epoch(self, order: Array) -> None:
        self._order = np.ascontiguousarray(order, dtype=np.int64)

    def steps(self, start: int, stop: int, batch_size: int) -> float:
        """SGD on order[start:stop] in mini-batches of ``batch_size``; the sum of the batches' **mean** costs."""
        if self._buffers[0].shape[0] < batch_size * self._units + PAD:
            self._buffers = self._make_buffers(batch_size)  # made once per batch size, reused every step
        if not train_batches.signatures:  # nothing compiled or loaded from the cache yet in this process
            logger.info("loading the compiled training steps (the first run on a machine compiles them: about %d s)", COMPILE_SECONDS)
        return _call_kernel(self._kernel_arguments(start, stop, batch_size))

    def prepare(self) -> Optional[tuple[str, Callable[[], None]]]:
        """The kernel compiled for this backend's argument types, when Numba has it neither in memory
        nor in its cache on disk (the first run on a machine): (what it waits for, the compile).

        The compile calls the kernel on an empty range of examples (no step), with arguments taken
        now, so it reads nothing that loading the training data replaces meanwhile.
        """
        args = self._kernel_arguments(0, 0, 1)  # the buffers of __init__ (one example) suffice for no step
        if _kernel_cached(args):
            return None
        sentence = (
            f"compiling the training kernels once for this machine, about {COMPILE_SECONDS} s "
            f"(later runs load them from Numba's cache)"
        )
        return sentence, lambda: _call_kernel(args)

    def _kernel_arguments(self, start: int, stop: int, batch_size: int) -> tuple[Any, ...]:
        return (
            self._theta, self._woff, self._boff, self._sizes, self._uoff, self._acts, self._cost,
            *self._inputs, self._y, self._order, int(start), int(stop), int(batch_size),
            self.lr, self.decay, *self._buffers, self._g, self._zeros, self._scratch, self._wo, self._wooff,
        )

    def step(self, start: int, stop: int) -> float:
        return self.steps(start, stop, stop - start)

    def parameters_finite(self) -> bool:
        return all_finite([self._theta])  # NaN and inf propagate through the sum



# ---------------------------------------------------------------------------------------------
# the first run on a machine: compiling ahead, and saying so

# what the first run on a machine waits for Numba (measured on this project's 2-core machine: 11 s
# idle, up to 25 s while the machine is busy); said before the wait, never measured per run
COMPILE_SECONDS = 15


def _tiny_backend(n_inputs: int, dtype: str) -> CompiledBackend:
    """A 2-example, n_inputs-2-2 backend whose kernel arguments have the types a real run's have.

    MNIST-like inputs (byte values k/255, at most 256 distinct) make the same code types (table codes)
    as the real data, so the kernel compiled for it is the one the real run calls.
    """
    net = Network([n_inputs, 2, 2], dtype=dtype, seed=0)
    backend = CompiledBackend(net, lr=0.1)
    x = (np.arange(2 * n_inputs) % 256 / 255.0).reshape(2, n_inputs)  # (2, n_inputs)
    backend.load_training_data(x.astype(net.dtype), np.eye(2, dtype=net.dtype))
    backend.begin_epoch(np.arange(2))
    return backend


def _call_kernel(args: tuple[Any, ...]) -> float:
    """``train_batches(*args)``, compiled (when it must be) with SLP vectorisation on (see _SLP_WHY)."""
    slp, numba.config.SLP_VECTORIZE = numba.config.SLP_VECTORIZE, 1
    try:
        return train_batches(*args)
    finally:
        numba.config.SLP_VECTORIZE = slp


def _kernel_cached(args: tuple[Any, ...]) -> bool:
    """Whether ``train_batches`` for the types of ``args`` is in memory or in Numba's cache on disk.

    Reads Numba's cache index (an internal of Numba's; anything unexpected there counts as not cached).
    """
    try:
        sig = tuple(numba.typeof(a) for a in args)
        if sig in [tuple(s) for s in train_batches.signatures]:
            return True
        cache = train_batches._cache
        key = cache._index_key(sig, train_batches.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception as error:  # noqa: BLE001 - Numba's internals changed: assume the worst, say so
        logger.debug("could not read Numba's cache index: %s", error)
        return False


def warm_up(n_inputs: int, dtype: str) -> None:
    """Compile (or load from the cache) the training kernel for ``dtype``, on a tiny network."""
    _tiny_backend(n_inputs, dtype).steps(0, 2, 1)


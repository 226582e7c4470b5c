"""The CPU reduction kernel: every per-token statistic and pair KL of a chunk, fused per position (numba).

The same quantities as kernels.py (its docstring has the notation and the formulas), computed in one pass over
each position's logits instead of a dozen passes over (positions x |V|) arrays: for one position, the vocabulary
is walked in blocks of BLOCK entries; per block and per model the kernel forms yh = x - max and e = exp(yh) in an
L1-sized scratch and reduces them at once, then every requested pair reduces e_a (yh_a - yh_b) and
e_b (yh_a - yh_b) from the same scratch. Only the logits are ever read from memory (twice: the max, then the
blocks), so the cost is close to one read of the head's output per model (bench/extract.py measures it).

Same inputs, same bits. The order of every operation is fixed by the code below, per position: float32 block
sums are pairwise trees in a fixed halving order, the block results are added in float64 in vocabulary order,
no fast-math flag lets the compiler reassociate, and a position is computed by one thread from its own logits
alone. So a position's results do not depend on the other models or pairs of the group, on the chunk, on the
number of threads or on the SIMD width the compiler picks. The max uses a vectorised reduction (nnan): a max
is exact in any order; a NaN it skips still reaches the sums, and so the stats (see ``reduce_chunk``).

exp. ``_exp32`` is e^y for y <= 0 in float32: y = k ln2 + r (k = round(y / ln2), ln2 in two parts so that
k * LN2_HI is exact), e^r by its degree-7 Taylor polynomial (|r| <= ln2 / 2: truncation < 6e-9, far below
float32's 6e-8 rounding), scaled by 2^k through the exponent bits. Measured against float64 on 2e6 points in
[-87, 0]: at most 1.2 ulp (torch.exp: 0.55 ulp), identical on every CPU because it uses only + - * and bit
operations. yh < -87 is taken as -87 (e ~ 1.6e-38, below any sum's last bit); the float32 range ends there.

Accuracy: the float32 sums are as in kernels.py (a fixed tree over 1024 terms, then float64); s = sum e is
summed in float64 inside each block too, since log s enters every KL of a near-uniform distribution (KL ~ 1e-6)
undamped. tests/test_extract_kernels.py holds this kernel and kernels.ChunkReducer to the same float64 oracle.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# Vocabulary entries per block: float32 trees 10 adds deep, and (models x BLOCK) scratch that stays in L1/L2.
BLOCK = 1024

_F = np.float32
_LOG2E = _F(1.4426950408889634)
_LN2_HI = _F(0.693145751953125)  # ln 2 with its last 12 mantissa bits zero: k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = _F(1.428606765330187e-06)  # ln 2 - _LN2_HI
_ROUND = _F(12582912.0)  # 1.5 * 2^23: adding and subtracting it rounds a float32 in [-2^22, 2^22] to an integer
_EXP_BIAS = np.int32(0x4B400000 - 127)  # bits of _ROUND (whose low mantissa bits then hold k) less the exponent bias
_FLOOR = _F(-87.0)  # e^-87 ~ 1.6e-38: the smallest normal float32 is e^-87.3
_C2, _C3, _C4, _C5, _C6, _C7 = (_F(1.0 / math.factorial(n)) for n in range(2, 8))


@intrinsic
def _bits_to_float32(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _float32_to_bits(typingctx, x):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


@njit(inline="always")
def _exp32(y):
    y = max(y, _FLOOR)
    shifted = y * _LOG2E + _ROUND
    k = shifted - _ROUND
    r = (y - k * _LN2_HI) - k * _LN2_LO
    p = _F(1.0) + r * (_F(1.0) + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * _C7))))))
    return p * _bits_to_float32((_float32_to_bits(shifted) - _EXP_BIAS) << np.int32(23))


@njit(fastmath={"nnan", "nsz"})
def _row_max(row, n):
    m = row[0]
    for v in range(1, n):
        m = max(m, row[v])
    return m


@njit(inline="always")
def _halve(p, h):
    """p[0] = the sum of p[:2h] in the fixed halving order (p is overwritten)."""
    while h >= 1:
        for i in range(h):
            p[i] += p[i + h]
        h //= 2
    return p[0]


@njit(inline="always")
def _dot(a, b, p):
    """sum_v a[v] b[v] over one block: the tree's first level fused with the products."""
    h = BLOCK // 2
    for i in range(h):
        p[i] = a[i] * b[i] + a[i + h] * b[i + h]
    return _halve(p, h // 2)


@njit(inline="always")
def _sum64(a, p64):
    h = BLOCK // 2
    for i in range(h):
        p64[i] = np.float64(a[i]) + np.float64(a[i + h])
    return _halve(p64, h // 2)


@njit(nogil=True, cache=True)
def _reduce_rows(logits, widths, r0, r1, vocab, targets, lq, kappa, pairs, stats, kl):  # pragma: no cover - compiled
    n_models = logits.shape[0]
    n_pairs = pairs.shape[0]
    n_blocks = (vocab + BLOCK - 1) // BLOCK
    log_v = math.log(vocab)
    y = np.zeros((n_models, BLOCK), np.float32)
    e = np.zeros((n_models, BLOCK), np.float32)
    d = np.zeros(BLOCK, np.float32)
    p = np.empty(BLOCK // 2, np.float32)
    p64 = np.empty(BLOCK // 2, np.float64)
    m = np.empty(n_models, np.float32)
    sums = np.empty((n_models, 3), np.float64)  # s, sum e yh, sum e lq
    log_z = np.empty(n_models, np.float64)
    pair_sums = np.empty((max(n_pairs, 1), 2), np.float64)
    for t in range(r0, r1):
        for k in range(n_models):
            m[k] = _row_max(logits[k, t], vocab)
        sums[:] = 0.0
        pair_sums[:] = 0.0
        for b in range(n_blocks):
            v0 = b * BLOCK
            nv = min(BLOCK, vocab - v0)
            for k in range(n_models):
                row, yk, ek, mk = logits[k, t], y[k], e[k], m[k]
                for v in range(nv):
                    yv = row[v0 + v] - mk
                    yk[v] = yv
                    ek[v] = _exp32(yv)
                for v in range(nv, BLOCK):  # padding: e = yh = 0 adds nothing
                    yk[v] = 0.0
                    ek[v] = 0.0
                sums[k, 0] += _sum64(ek, p64)
                sums[k, 1] += _dot(ek, yk, p)
                sums[k, 2] += _dot(ek, lq[v0 : v0 + BLOCK], p)
            for j in range(n_pairs):
                a, c = pairs[j, 0], pairs[j, 1]
                ya, yb = y[a], y[c]
                for v in range(BLOCK):
                    d[v] = ya[v] - yb[v]
                pair_sums[j, 0] += _dot(e[a], d, p)
                pair_sums[j, 1] += _dot(e[c], d, p)
        for k in range(n_models):
            s, own, lq_mean = sums[k, 0], sums[k, 1] / sums[k, 0], sums[k, 2] / sums[k, 0]
            log_z[k] = math.log(s)
            mk = np.float64(m[k])
            # ce over the full output width: the padded columns join the log-partition in float64
            top = 0.0
            for v in range(vocab, widths[k]):
                top = max(top, np.float64(logits[k, t, v]) - mk)
            pad = 0.0
            for v in range(vocab, widths[k]):
                pad += math.exp(np.float64(logits[k, t, v]) - mk - top)
            log_full = math.log(s * math.exp(-top) + pad) + top
            stats[k, t, 0] = log_full - (np.float64(logits[k, t, targets[t]]) - mk)
            stats[k, t, 1] = log_z[k] - own
            stats[k, t, 2] = (log_v - log_z[k]) + own
            stats[k, t, 3] = own - lq_mean - kappa - log_z[k] + log_v
        for j in range(n_pairs):
            a, c = pairs[j, 0], pairs[j, 1]
            dz = log_z[a] - log_z[c]
            kl[j, t, 0] = pair_sums[j, 0] / sums[a, 0] - dz
            kl[j, t, 1] = dz - pair_sums[j, 1] / sums[c, 0]


class FusedReducer:
    """Buffers and the fused reduction for chunks of up to `chunk` positions of `n_models` models (CPU).

    ``logits[k, :rows, :widths[k]]`` is where model k's float32 logits go (the engine writes the output head's
    product straight into it); ``reduce(rows, targets, pairs)`` -> (stats (n_models, rows, 4),
    kl (len(pairs), rows, 2)) float64 numpy arrays, stats columns STAT_COLUMNS, kl[j, :, 0] = KL(p_a || p_b),
    kl[j, :, 1] = KL(p_b || p_a) for pairs[j] = (a, b). A NaN or infinite real-vocabulary logit, or a NaN or
    +inf padded one, makes that model's stats non-finite: check them (`finite_models`).
    """

    def __init__(self, n_models: int, chunk: int, width: int, log_unigram: np.ndarray):
        vocab = int(log_unigram.shape[0])
        if width < vocab:
            raise ValueError(f"logit width {width} < vocabulary {vocab}")
        self.n_models, self.chunk, self.width, self.vocab_size = n_models, chunk, width, vocab
        self.logits = np.zeros((n_models, chunk, width), dtype=np.float32)
        self.widths = np.full(n_models, width, dtype=np.int64)  # model k's logits are logits[k, :, : widths[k]]
        self.lq = np.zeros(-(-vocab // BLOCK) * BLOCK, dtype=np.float32)
        self.set_unigram(log_unigram)

    def set_unigram(self, log_unigram: np.ndarray) -> None:
        """The centred log(q / uniform) per vocabulary entry (zero past |V|), as in kernels.ChunkReducer."""
        lq = np.asarray(log_unigram, dtype=np.float64) + math.log(self.vocab_size)
        if lq.shape != (self.vocab_size,):
            raise ValueError(f"log_unigram must have shape ({self.vocab_size},)")
        self.kappa = float(lq.mean())
        self.lq[: self.vocab_size] = (lq - self.kappa).astype(np.float32)

    def reduce(self, rows: int, targets: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every statistic and pair KL of chunk rows [0, rows), in the calling thread (see ``reduce_rows``)."""
        stats = np.empty((self.n_models, rows, 4), dtype=np.float64)
        kl = np.empty((len(np.asarray(pairs).reshape(-1, 2)), rows, 2), dtype=np.float64)
        self.reduce_rows(0, rows, targets, pairs, stats, kl)
        return stats, kl

    def reduce_rows(self, r0: int, r1: int, targets: np.ndarray, pairs: np.ndarray, stats, kl) -> None:
        """Rows [r0, r1) of the chunk into stats[:, r0:r1] (models, rows, 4) and kl[:, r0:r1] (pairs, rows, 2).

        targets[r] is row r's target id (< |V|). Releases the GIL: threads may reduce disjoint row ranges at once,
        and a row's bits do not depend on the split.
        """
        if not 0 <= r0 < r1 <= min(self.chunk, len(targets), stats.shape[1]):
            raise ValueError(f"rows [{r0}, {r1}) are not rows of the chunk")
        pairs = np.ascontiguousarray(np.asarray(pairs, dtype=np.int64).reshape(-1, 2))
        if pairs.size and (pairs.min() < 0 or pairs.max() >= self.n_models):
            raise ValueError("pairs must name models of the chunk")
        targets = np.ascontiguousarray(targets, dtype=np.int64)
        if targets[r0:r1].min() < 0 or targets[r0:r1].max() >= self.vocab_size:
            raise ValueError("targets must be vocabulary ids")
        _reduce_rows(self.logits, self.widths, r0, r1, self.vocab_size, targets, self.lq, self.kappa, pairs, stats, kl)

    @staticmethod
    def finite_models(stats: np.ndarray) -> list[bool]:
        """Per model: are all its statistics in the chunk finite?"""
        return np.isfinite(stats).all(axis=(1, 2)).tolist()

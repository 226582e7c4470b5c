"""Per-token reductions of next-token distributions: CE, entropy, KL to uniform / unigram, and pair KLs.

This module states the formulas and holds the torch kernel (ChunkReducer) the engine runs on CUDA; on CPU the
engine runs fused.py, the same formulas fused per position (much faster there: bench/extract.py's one-chunk
table). Both are held to the same float64 oracles in tests/test_extract_kernels.py.

Notation for one position and one model: logits x over the real vocabulary V (the first |V| = len(tokenizer)
columns of the model's output), yh = x - max(x) (exact near the maximum, and exp never overflows), e = exp(yh),
s = sum_v e, p = e / s and the log-partition Lh = log s, a float64 scalar per row, so that log p = yh - Lh.
With E_a[.] = sum_v e_a (.) / s_a:

    ce           = -log p_full(target) over the model's FULL output width W >= |V| (the study's surprisal and
                   the training loss): Lh_full - (x[target] - max(x)), Lh_full = log(s + sum_{pad} exp(x - max))
    entropy      = H(p) = -sum_v p log p             = Lh - E[yh]
    kl_uniform   = KL(p || 1/|V|) = log|V| - H(p)    = (log|V| - Lh) + E[yh]
    kl_unigram   = KL(p || q)                        = E[yh] - E[lq] - kappa - Lh + log|V|,
                   lq = log q + log|V| - kappa centred (kappa its mean), i.e. log(q / uniform) centred
    KL(p_a||p_b) = sum_v p_a (log p_a - log p_b)     = E_a[yh_a - yh_b] - (Lh_a - Lh_b)

entropy, the KLs and p itself are over the renormalised real vocabulary; only ce includes the padded columns.

Determinism. A position's results depend only on its own logits, never on how many models, pairs or positions
are reduced together: every operation here is either elementwise (IEEE add, sub, mul are correctly rounded
whatever the vector width or thread split) or a sum in a FIXED pairwise order (`tree_sum_`: halving adds along
one axis, an order that depends only on the axis length). No BLAS call and no library reduction (whose order
changes with the batch shape: a batched-matmul Gram over 30 models moved entropy and KL by up to 1e-6 against
2 models) touches the reductions. The same holds on CUDA, where the same code runs.

Layout. Per model a chunk is stored vocabulary-major, (vocabulary blocks, BLOCK, positions): positions are the
innermost axis, so every level of a tree over the vocabulary adds two contiguous slabs of (BLOCK / 2^k x
positions) floats, and all other work is contiguous elementwise passes. Sums are float32 within a block of
BLOCK = 1024 vocabulary entries and float64 across blocks; the padding up to a whole block holds e = 0 and yh = 0.

Accuracy. In the uniform phase (step 0) KLs are ~1e-6 and below. The textbook identity
sum p log p - p . log q subtracts two numbers of size log|V| ~ 10.8 (float32 leaves ~1e-5 of noise), and even a
direct sum over float32 *log-probs* keeps ~1e-6, because rounding log-sum-exp (~10.8) to float32 shifts all of a
model's log-probs alike. Here log|V| never enters a float32 sum: the pair KL sums e_a (yh_a - yh_b), which is small
exactly when the KL is small, the log-partitions are float64 scalars, and each float32 partial sum covers a
pairwise tree over only 1024 terms. Measured against float64: see bench/extract.py (accuracy table).

Speed: every pass over a (positions x V) array is memory bound; per model 4 passes load a chunk (max, shift into
the block layout, exp) and 3 sums of products give s, E[yh] and E[lq]; per pair one difference and 2 sums of
products: about 195 passes over a chunk for 5 models and 10 pairs, which is why the CPU runs fused.py instead.
bench/extract.py times both and the earlier batched-matmul (Gram) kernel on one chunk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

STAT_COLUMNS = ("ce", "entropy", "kl_uniform", "kl_unigram")

# Vocabulary block for float32 partial sums (then combined in float64). 1024 keeps each float32 tree 10 adds deep
# (error <= 10 roundings of the block's sum); one float32 sum over the whole 5e4 row had ~1e-4 error at KL ~ 1e-3.
BLOCK = 1024


def tree_sum_(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over `dim` in a fixed pairwise order that depends only on x.shape[dim]; x is overwritten.

    Each level adds the last h entries onto the first h (h = n // 2), so the order is the same for every other
    index of x and for any shape of the other axes: the same inputs give the same bits. Returns a view (dim
    removed) into x.
    """
    n = x.shape[dim]
    while n > 1:
        h = n // 2
        x.narrow(dim, 0, h).add_(x.narrow(dim, n - h, h))
        n -= h
    return x.select(dim, 0)


class ChunkReducer:
    """Buffers and reductions for a chunk of up to `chunk` positions of `n_models` models.

    Per chunk: ``load(k, logits, targets, at)`` for every model k and every slice of rows (``at`` = first row of
    the slice in the chunk), then ``finish(pairs)`` -> (stats (n_models, c, 4), kl (len(pairs), c, 2)) float64,
    kl[j, :, 0] = KL(p_a || p_b), kl[j, :, 1] = KL(p_b || p_a) for pairs[j] = (a, b); c is the number of rows
    loaded. A NaN or infinite real-vocabulary logit of model k makes ``load`` return False; a NaN or +inf padded
    logit (or -inf everywhere) makes model k's stats non-finite: check both (`finite_models`).
    """

    def __init__(self, n_models: int, chunk: int, log_unigram: torch.Tensor, device: torch.device | str = "cpu"):
        vocab = int(log_unigram.shape[0])
        self.n_models = n_models
        self.vocab_size = vocab
        self.chunk = chunk
        self.device = torch.device(device)
        self.log_v = math.log(vocab)
        self.n_blocks = -(-vocab // BLOCK)
        nb, vp = self.n_blocks, self.n_blocks * BLOCK
        # Padding rows [vocab, vp) stay 0 in both y and e (load writes only the real rows): they add nothing.
        self.y = torch.zeros(n_models, vp, chunk, dtype=torch.float32, device=self.device)
        self.e = torch.zeros(n_models, vp, chunk, dtype=torch.float32, device=self.device)
        self.scratch = torch.empty(3, vp, chunk, dtype=torch.float32, device=self.device)
        self.lq = torch.zeros(vp, 1, dtype=torch.float32, device=self.device)
        self.set_unigram(log_unigram)
        f64, dev = torch.float64, self.device
        self.m = torch.empty(n_models, chunk, dtype=f64, device=dev)  # max of the real logits
        self.y_target = torch.empty(n_models, chunk, dtype=f64, device=dev)  # x[target] - max
        self.pad_sum = torch.zeros(n_models, chunk, dtype=f64, device=dev)  # sum over padded columns of exp(x - max)
        self.pad_max = torch.zeros(n_models, chunk, dtype=f64, device=dev)  # max(0, max over padded columns of x - max)
        self.c = 0
        assert nb * BLOCK == vp

    def set_unigram(self, log_unigram: torch.Tensor) -> None:
        """The centred log(q / uniform) for every vocabulary row, so that E_a[lq] is one more sum of products."""
        if log_unigram.shape != (self.vocab_size,):
            raise ValueError(f"log_unigram must have shape ({self.vocab_size},)")
        lq = log_unigram.to(torch.float64) + self.log_v
        self.kappa = float(lq.mean())
        self.lq.zero_()
        self.lq[: self.vocab_size, 0] = (lq - self.kappa).to(device=self.device, dtype=torch.float32)

    def load(self, k: int, logits: torch.Tensor, targets: torch.Tensor, at: int = 0) -> bool:
        """Take model k's logits (rows, W >= V) for chunk rows [at, at + rows) and their target ids (< V).

        Returns False if a real-vocabulary logit is NaN or infinite.
        """
        rows, v = logits.shape[0], self.vocab_size
        sl = slice(at, at + rows)
        self.c = max(self.c, at + rows)
        x = logits[:, :v]  # p is over the real vocabulary: the padded columns are sliced off
        m = x.amax(dim=1).to(torch.float32)
        m64 = m.to(torch.float64)
        self.m[k, sl] = m64
        # the target's logit in float64: x[target] - max rounded to float32 would cost ~1e-6 at ce ~ 20
        x_t = logits.gather(1, targets[:rows].view(-1, 1).to(logits.device))[:, 0].to(torch.float64)
        self.y_target[k, sl] = x_t - m64
        # shift into the vocabulary-major layout in one pass (upcasting a bf16/fp16 forward to float32)
        y = self.y[k, :v, sl]
        torch.sub(x.T, m, out=y)
        torch.exp(y, out=self.e[k, :v, sl])
        if logits.shape[1] > v:  # the padded columns enter ce only (log-partition over the full width)
            pad = logits[:, v:].to(torch.float64) - m64.view(-1, 1)
            top = pad.amax(dim=1).clamp(min=0.0)  # a padded logit above the real maximum: shift by it
            self.pad_max[k, sl] = top
            self.pad_sum[k, sl] = tree_sum_(torch.exp(pad - top.view(-1, 1)), dim=1)
        else:
            self.pad_max[k, sl] = 0.0
            self.pad_sum[k, sl] = 0.0
        # NaN anywhere -> NaN max. (+inf -> inf - inf = NaN in e; -inf -> e = 0 and yh = -inf, and e * yh is
        # 0 * -inf = NaN: either way this model's stats come out NaN, which `finish` callers check.)
        return bool(torch.isfinite(m).all())

    def _sums(self, slots: int) -> torch.Tensor:
        """(slots, c) float64: the fixed-order vocabulary sums of scratch[:slots, :, :c]."""
        c, nb = self.c, self.n_blocks
        blocks = self.scratch[:slots, :, :c].unflatten(1, (nb, BLOCK))  # (slots, nb, BLOCK, c)
        partial = tree_sum_(blocks, dim=2).to(torch.float64)  # float32 within a block: (slots, nb, c)
        return tree_sum_(partial, dim=1)  # float64 across blocks

    def finish(self, pairs: Sequence[tuple[int, int]] = ()) -> tuple[torch.Tensor, torch.Tensor]:
        c, n = self.c, self.n_models
        sc = self.scratch[:, :, :c]
        stats = torch.empty(n, c, len(STAT_COLUMNS), dtype=torch.float64, device=self.device)
        self.s = torch.empty(n, c, dtype=torch.float64, device=self.device)
        self.log_z = torch.empty(n, c, dtype=torch.float64, device=self.device)  # Lh
        for k in range(n):
            e, y = self.e[k, :, :c], self.y[k, :, :c]
            sc[0].copy_(e)
            torch.mul(e, y, out=sc[1])
            torch.mul(e, self.lq, out=sc[2])
            s, e_y, e_lq = self._sums(3)
            if self.n_blocks < 16:
                # Few blocks: each float32 block sum of s is rounded to ~6e-8 relative and there are too few of
                # them to average out (1.2e-7 KL error seen at |V| = 300); a float64 sum is cheap at this size.
                s = tree_sum_(e.to(torch.float64), dim=0)
            log_z = torch.log(s)
            own, lq = e_y / s, e_lq / s  # E[yh], E[lq]
            # ce over the full output width: s_full = s + exp(pad_max) * pad_sum, relative to max(real, pad)
            top = self.pad_max[k, :c]
            log_full = torch.log(s * torch.exp(-top) + self.pad_sum[k, :c]) + top
            stats[k, :, 0] = log_full - self.y_target[k, :c]
            stats[k, :, 1] = log_z - own
            stats[k, :, 2] = (self.log_v - log_z) + own
            stats[k, :, 3] = own - lq - self.kappa - log_z + self.log_v
            self.s[k], self.log_z[k] = s, log_z
        kl = torch.empty(len(pairs), c, 2, dtype=torch.float64, device=self.device)
        for j, (a, b) in enumerate(pairs):
            kl[j] = self._pair(a, b)
        self.c = 0  # the next load starts a new chunk
        return stats, kl

    def _pair(self, a: int, b: int) -> torch.Tensor:
        """(c, 2) float64 KL(p_a||p_b), KL(p_b||p_a) = E_a[d] - dz, dz - E_b[d], d = yh_a - yh_b, dz = Lh_a - Lh_b."""
        c = self.c
        sc = self.scratch[:, :, :c]
        torch.sub(self.y[a, :, :c], self.y[b, :, :c], out=sc[1])
        torch.mul(self.e[a, :, :c], sc[1], out=sc[0])
        sc[1].mul_(self.e[b, :, :c])
        d_a, d_b = self._sums(2)
        dz = self.log_z[a] - self.log_z[b]
        return torch.stack([d_a / self.s[a] - dz, dz - d_b / self.s[b]], dim=1)

    @staticmethod
    def finite_models(stats: torch.Tensor) -> list[bool]:
        """Per model: are all its statistics in the chunk finite?"""
        return torch.isfinite(stats).all(dim=2).all(dim=1).tolist()

"""Per-token reductions of next-token distributions: CE, entropy, KL to uniform / unigram, and pair KLs.

Notation for one position and one model: logits x over the real vocabulary V (padded logit columns sliced off),
yh = x - max(x) (exact near the maximum, and exp never overflows), e = exp(yh), s = sum_v e, p = e / s and the
log-partition Lh = log s, a float64 scalar per row, so that log p = yh - Lh. With E_a[.] = sum_v e_a (.) / s_a:

    ce           = -log p(target)                    = Lh - (x[target] - max(x))   (float64)
    entropy      = H(p) = -sum_v p log p             = Lh - E[yh]
    kl_uniform   = KL(p || 1/|V|) = log|V| - H(p)    = (log|V| - Lh) + E[yh]
    kl_unigram   = KL(p || q)                        = E[yh] - E[lq] - kappa - Lh + log|V|,
                   lq = log q + log|V| - kappa centred (kappa its mean), i.e. log(q / uniform) centred
    KL(p_a||p_b) = sum_v p_a (log p_a - log p_b)     = E_a[yh_a] - E_a[yh_b] - (Lh_a - Lh_b)

All the E_a[.] for all models a and all "targets" (every model's yh, lq, and ones for s) are one Gram matrix per
position, G[a, b] = sum_v e_a yh_b, computed as one batched matmul over blocks of 1024 vocabulary entries whose
float32 results are summed in float64 (`gram`). Every e and yh is read once per chunk, whatever the number of
pairs. This is the matmul formulation made exact; it is used on every device. The direct per-pair sum
(`pair_kl_direct`) stays as a cross-check: on 2 CPU cores it was 7-10x slower per chunk (5 models, 10 pairs),
and log_softmax + direct per-pair sums 4x slower (bench/extract.py). Not yet measured on a GPU, where the same
code runs (TF32 is switched off for the Gram so the float32 partial sums keep their 24-bit mantissa).

Accuracy. In the uniform phase (step 0) KLs are ~1e-6 and below. The textbook identity
sum p log p - p . log q subtracts two numbers of size log|V| ~ 10.8 (float32 leaves ~1e-5 of noise, more with a
BLAS gemv over 5e4 terms), and even a direct sum over float32 *log-probs* keeps ~1e-6, because rounding log-sum-exp
(~10.8) to float32 shifts all of a model's log-probs alike. Here log|V| never enters a float32 sum: what is summed
(yh, of the size of the logit spread where p has its mass) is small exactly when the KL is small, the log-partition is a
float64 scalar, and each float32 partial sum covers only 1024 terms. Measured against float64 (bench/extract.py,
|V| = 50277): ~2e-8 absolute on KL ~ 1e-6 (float32 matmul identity: 1.5e-3; direct sum over float32
log-probs: 1.3e-6), ~1e-7 on KL ~ 1 and ~3e-6 on KL ~ 14. (Centring yh on its mean instead of
the max was tried: it rounds the high-probability entries, ~20 below the mean's offset, to 2e-6.)

Speed (CPU): every pass over a (positions x V) array is memory bound, so the reducer keeps preallocated,
block-padded buffers (fresh 50 MB allocations cost more than the arithmetic), does 4 passes per model (max;
shift + copy into the block layout; exp; zeroing of the padding is negligible) and reads e and yh once more for
all statistics and pairs together; the direct per-pair kernel costs 5 passes per pair.
"""

from __future__ import annotations

import math

import torch

STAT_COLUMNS = ("ce", "entropy", "kl_uniform", "kl_unigram")

# Vocabulary block for float32 partial sums (then combined in float64). 1024 measured as accurate as 256 and
# faster; one Gram block of the whole 5e4 row in float32 had ~1e-4 error at KL ~ 1e-3.
BLOCK = 1024


class ChunkReducer:
    """Buffers and reductions for a chunk of up to `chunk` positions of `n_models` models.

    Per chunk: ``load(k, logits, targets)`` for every model k, then ``finish()`` -> (stats (n_models, c, 4),
    kl (c, n_models, n_models)) float64, kl[:, a, b] = KL(p_a || p_b). A NaN or infinite logit of model k makes
    ``load`` return False or, for -inf, model k's stats non-finite: check both (`finite_models`).

    Layout: buffers are block-major, (position, vocabulary block, model, BLOCK), so that the Gram matrices of
    all blocks of all positions are one batched matmul over contiguous (models x BLOCK) tiles (10x faster on
    CPU than per-block strided matmuls); a model's row is a strided (blocks, BLOCK) view for elementwise work.
    """

    def __init__(self, n_models: int, chunk: int, log_unigram: torch.Tensor, device: torch.device | str = "cpu"):
        vocab = int(log_unigram.shape[0])
        self.n_models = n_models
        self.vocab_size = vocab
        self.chunk = chunk
        self.device = torch.device(device)
        self.log_v = math.log(vocab)
        self.n_blocks = -(-vocab // BLOCK)
        self.tail = vocab - (self.n_blocks - 1) * BLOCK  # real entries in the last block
        nb = self.n_blocks
        # Padding entries are kept at e = 0 and yh = 0: they add nothing to any sum.
        self.y = torch.zeros(chunk, nb, n_models + 2, BLOCK, dtype=torch.float32, device=self.device)
        self.e = torch.zeros(chunk, nb, n_models, BLOCK, dtype=torch.float32, device=self.device)
        self.set_unigram(log_unigram)
        # Slot n_models + 1 holds ones, so the same Gram gives s = sum_v e (float32 per block, float64 across
        # blocks) without another pass over e.
        ones = torch.zeros(nb * BLOCK, dtype=torch.float32)
        ones[:vocab] = 1.0
        self.y[:, :, n_models + 1, :] = ones.view(nb, BLOCK).to(self.device)
        self.s = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)
        self.log_z = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)  # Lh
        self.y_target = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)
        self.c = 0

    def set_unigram(self, log_unigram: torch.Tensor) -> None:
        """Slot n_models of y holds the centred log(q / uniform) for every row, so E_a[lq] comes out of the Gram."""
        if log_unigram.shape != (self.vocab_size,):
            raise ValueError(f"log_unigram must have shape ({self.vocab_size},)")
        nb, n = self.n_blocks, self.n_models
        lq = log_unigram.to(torch.float64) + self.log_v
        self.kappa = float(lq.mean())
        lq_padded = torch.zeros(nb * BLOCK, dtype=torch.float64)
        lq_padded[: self.vocab_size] = lq - self.kappa
        self.y[:, :, n, :] = lq_padded.view(nb, BLOCK).to(device=self.device, dtype=torch.float32)

    def load(self, k: int, logits: torch.Tensor, targets: torch.Tensor) -> bool:
        """Take model k's logits (c, >= V) and the target ids (c,) < V; False if a logit is NaN or infinite."""
        c, nb, tail, full = logits.shape[0], self.n_blocks, self.tail, (self.n_blocks - 1) * BLOCK
        self.c = c
        y, e = self.y[:c, :, k, :], self.e[:c, :, k, :]  # (c, blocks, BLOCK) views
        x = logits[:, : self.vocab_size]  # drop the padded logit columns
        m = x.amax(dim=1).to(torch.float32)
        # ce from the unshifted logit in float64: x[target] - max rounded to float32 would cost ~1e-6 at ce ~ 20
        x_t = logits.gather(1, targets[:c].view(-1, 1))[:, 0].to(torch.float64)
        self.y_target[k, :c] = x_t - m.to(torch.float64)
        # shift and copy into the block layout in one pass (upcasting a bf16/fp16 forward to float32)
        shift = m.view(c, 1, 1)
        if nb > 1:
            torch.sub(x[:, :full].unflatten(1, (nb - 1, BLOCK)), shift, out=y[:, : nb - 1])
        torch.sub(x[:, full:].unsqueeze(1), shift, out=y[:, nb - 1 :, :tail])
        torch.exp(y, out=e)
        e[:, nb - 1, tail:] = 0.0  # exp(0) = 1 where y's padding is 0
        # NaN anywhere -> NaN max. (+inf -> inf - inf = NaN in e; -inf -> e = 0 and yh = -inf, and the Gram's
        # 0 * -inf is NaN: either way this model's stats come out NaN, which `finish` callers check.)
        return bool(torch.isfinite(m).all())

    def gram(self) -> torch.Tensor:
        """G (c, n_models, n_models + 2) float64: G[t, a, b] = sum_v e_a yh_b; b = n_models: the unigram lq,
        b = n_models + 1: ones (G = s_a)."""
        c, n, nb = self.c, self.n_models, self.n_blocks
        e, y = self.e[:c].view(c * nb, n, BLOCK), self.y[:c].view(c * nb, n + 2, BLOCK).transpose(1, 2)
        if self.device.type == "cuda":
            # TF32 (10-bit mantissa) would undo the accuracy argument above: force IEEE float32 for this matmul.
            precision = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")
            try:
                tiles = torch.bmm(e, y)
            finally:
                torch.set_float32_matmul_precision(precision)
        else:
            tiles = torch.bmm(e, y)
        # float32 within a block of 1024, float64 across blocks: sums of 5e4 terms good to ~1e-8 relative
        return tiles.view(c, nb, n, n + 2).sum(dim=1, dtype=torch.float64)

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        c, n = self.c, self.n_models
        g = self.gram()
        if self.n_blocks >= 16:
            self.s[:, :c] = g[:, :, n + 1].T
        else:
            # Few blocks: each float32 block sum is rounded to ~3e-8 relative and there are too few of them to
            # average out (seen: 9e-8 KL error at |V| = 2000); a float64 sum is cheap at this size anyway.
            self.s[:, :c] = self.e[:c].sum(dim=(1, 3), dtype=torch.float64).T
        self.log_z[:, :c] = torch.log(self.s[:, :c])
        expect = g[:, :, : n + 1] / self.s[:, :c].T.unsqueeze(2)  # E_a[yh_b], (c, n, n + 1)
        own = torch.diagonal(expect[:, :, :n], dim1=1, dim2=2).T  # E_a[yh_a], (n, c)
        log_z = self.log_z[:, :c]
        y_t = self.y_target[:, :c]
        stats = torch.stack(
            [
                log_z - y_t,
                log_z - own,
                (self.log_v - log_z) + own,
                own - expect[:, :, n].T - self.kappa - log_z + self.log_v,
            ],
            dim=2,
        )
        lz = log_z.T  # (c, n)
        kl = own.T.unsqueeze(2) - expect[:, :, :n] - lz.unsqueeze(2) + lz.unsqueeze(1)
        return stats, kl

    @staticmethod
    def finite_models(stats: torch.Tensor) -> list[bool]:
        """Per model: are all its statistics in the chunk finite?"""
        return torch.isfinite(stats).all(dim=2).all(dim=1).tolist()

    def pair_kl_direct(self, a: int, b: int) -> torch.Tensor:
        """(c, 2) float64 KL(p_a||p_b), KL(p_b||p_a) by a direct sum over d = yh_a - yh_b (cross-check kernel;
        call after `finish`, which sets s and Lh)."""
        c = self.c
        d = self.y[:c, :, a] - self.y[:c, :, b]
        dz = self.log_z[a, :c] - self.log_z[b, :c]
        kl_ab = _sum64(self.e[:c, :, a] * d) / self.s[a, :c] - dz
        kl_ba = dz - _sum64(self.e[:c, :, b] * d) / self.s[b, :c]
        return torch.stack([kl_ab, kl_ba], dim=1)


def _sum64(x: torch.Tensor) -> torch.Tensor:
    """Sums over (blocks, BLOCK) of a (c, blocks, BLOCK) tensor, in float64."""
    return x.sum(dim=(1, 2), dtype=torch.float64)

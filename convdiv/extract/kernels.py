"""Per-token reductions of next-token distributions: CE, entropy, KL to uniform / unigram, and pair KLs.

Notation for one position and one model: logits x over the real vocabulary V (padded logit columns already
sliced off), shifted logits y = x - max(x) (so exp never overflows), e = exp(y), s = sum_v e, and the
log-partition lse = log s, so that log p = y - lse and p = e / s. Then

    ce          = -log p(target)                 = lse - y[target]
    entropy     = H(p) = -sum_v p log p          = lse - E_p[y]
    kl_uniform  = KL(p || 1/|V|) = log|V| - H(p) = (log|V| - lse) + E_p[y]
    kl_unigram  = KL(p || q)                      = E_p[y - log q - log|V|] - (lse - log|V|)
    KL(p_a||p_b) = sum_v p_a (log p_a - log p_b) = E_{p_a}[y_a - y_b] - (lse_a - lse_b)

Why this form (accuracy): in the uniform phase (step 0) KLs are ~1e-6 and below. The matmul identity
sum p log p - p . log q subtracts two numbers of size log|V| ~ 10.8, so float32 (eps 6e-8) leaves ~1e-5 of noise;
even a direct sum over float32 *log-probs* keeps a ~1e-6 error, because the rounding of lse (~10.8) to float32
shifts every log-prob of a model by the same amount. Here everything summed over V is small in the uniform
phase (y and y_a - y_b are of the size of the logit spread, not of log|V|), and lse only enters as a float64
scalar, so the remaining error is float32 rounding of quantities that are themselves small: ~1e-9 absolute on
KL ~ 1e-6 (bench/extract.py measures it against a float64 oracle).

Speed (CPU): every pass over a (tokens x V) array is memory bound, so the reducer keeps preallocated buffers
(fresh 50 MB allocations cost more than the arithmetic) and float32 sums (torch's cascade summation; a
float64 sum is 20x slower on CPU).
"""

from __future__ import annotations

import math

import torch

STAT_COLUMNS = ("ce", "entropy", "kl_uniform", "kl_unigram")


class ChunkReducer:
    """Buffers and reductions for a chunk of up to `chunk` positions of `n_models` models at once.

    Usage per chunk: ``load(k, logits)`` for every model k, then ``stats(k, targets)`` and ``pair_kl(a, b)``.
    Results are float64 tensors of length c on the reducer's device.
    """

    def __init__(self, n_models: int, chunk: int, log_unigram: torch.Tensor, device: torch.device | str = "cpu"):
        vocab = int(log_unigram.shape[0])
        self.vocab_size = vocab
        self.chunk = chunk
        self.device = torch.device(device)
        self.log_v = math.log(vocab)
        # log q + log|V| = log(q / uniform): of order 1, so E_p[y - that] does not cancel against log|V|.
        self.log_q_rel = (log_unigram.to(torch.float64) + self.log_v).to(device=self.device, dtype=torch.float32)
        self.y = torch.empty(n_models, chunk, vocab, dtype=torch.float32, device=self.device)
        self.e = torch.empty_like(self.y)
        self.tmp = torch.empty(chunk, vocab, dtype=torch.float32, device=self.device)
        self.tmp2 = torch.empty(chunk, vocab, dtype=torch.float32, device=self.device)
        self.s = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)
        self.lse = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)
        self.mean_y = torch.empty(n_models, chunk, dtype=torch.float64, device=self.device)
        self.c = 0

    def load(self, k: int, logits: torch.Tensor) -> bool:
        """Take model k's logits (c, >= V) for the chunk; returns False if any of them is NaN or infinite."""
        c = logits.shape[0]
        self.c = c
        y, e, tmp = self.y[k, :c], self.e[k, :c], self.tmp[:c]
        y.copy_(logits[:, : self.vocab_size])  # upcast to float32 (bf16/fp16 forward), drop padded columns
        m = y.amax(dim=-1, keepdim=True)
        y.sub_(m)
        torch.exp(y, out=e)
        s = _accurate_row_sum(e)
        torch.mul(e, y, out=tmp)
        ey = tmp.sum(dim=-1).to(torch.float64)
        self.s[k, :c] = s
        self.lse[k, :c] = torch.log(s)
        self.mean_y[k, :c] = ey / s
        # NaN anywhere -> NaN max; +inf -> inf - inf = NaN in y; -inf -> 0 * -inf = NaN in e*y. So two row
        # reductions are enough to see any non-finite logit.
        return bool(torch.isfinite(m).all() and torch.isfinite(ey).all())

    def stats(self, k: int, targets: torch.Tensor) -> torch.Tensor:
        """(c, 4) float64 in STAT_COLUMNS order for model k; `targets` are token ids (c,) < V."""
        c = self.c
        y, e, tmp = self.y[k, :c], self.e[k, :c], self.tmp[:c]
        s, lse, mean_y = self.s[k, :c], self.lse[k, :c], self.mean_y[k, :c]
        y_t = y.gather(1, targets[:c].view(-1, 1)).squeeze(1).to(torch.float64)
        ce = lse - y_t
        entropy = lse - mean_y
        kl_uniform = (self.log_v - lse) + mean_y
        torch.sub(y, self.log_q_rel, out=tmp)
        tmp.mul_(e)
        kl_unigram = tmp.sum(dim=-1).to(torch.float64) / s - (lse - self.log_v)
        return torch.stack([ce, entropy, kl_uniform, kl_unigram], dim=1)

    def pair_kl(self, a: int, b: int) -> torch.Tensor:
        """(c, 2) float64: KL(p_a || p_b), KL(p_b || p_a), both from one difference d = y_a - y_b."""
        c = self.c
        d, tmp = self.tmp[:c], self.tmp2[:c]
        torch.sub(self.y[a, :c], self.y[b, :c], out=d)
        dlse = self.lse[a, :c] - self.lse[b, :c]
        torch.mul(self.e[a, :c], d, out=tmp)
        kl_ab = tmp.sum(dim=-1).to(torch.float64) / self.s[a, :c] - dlse
        torch.mul(self.e[b, :c], d, out=tmp)
        kl_ba = dlse - tmp.sum(dim=-1).to(torch.float64) / self.s[b, :c]
        return torch.stack([kl_ab, kl_ba], dim=1)


# Block length for the partition-function sum: lse = log s must be good to ~1e-8 absolute (it enters KLs of
# ~1e-6 as a difference), but a float32 row sum of |V| ~ 5e4 terms is only good to ~1.4e-7 relative. Summing
# 1024-term blocks in float32 and the ~50 block sums in float64 measured 1.6e-8, at ~1/6 the cost of a
# float64 sum over the row.
_SUM_BLOCK = 1024


def _accurate_row_sum(e: torch.Tensor) -> torch.Tensor:
    """Row sums of a (c, V) float32 tensor as float64, with block-wise float32 then float64 accumulation."""
    n_blocks = e.shape[1] // _SUM_BLOCK
    if n_blocks < 2:
        return e.sum(dim=-1, dtype=torch.float64)
    cut = n_blocks * _SUM_BLOCK
    blocks = e[:, :cut].unflatten(1, (n_blocks, _SUM_BLOCK)).sum(dim=-1)
    return blocks.sum(dim=-1, dtype=torch.float64) + e[:, cut:].sum(dim=-1, dtype=torch.float64)


def reference_log_probs(logits: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """float32 log_softmax over the real vocabulary (for callers that want plain log-probs)."""
    return torch.log_softmax(logits[..., :vocab_size].to(torch.float32), dim=-1)

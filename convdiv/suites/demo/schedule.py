"""What training step t sees: Pythia's learning-rate schedule and the seeded order of the training batches."""

from __future__ import annotations

import math

import numpy as np

from convdiv.suites.demo.config import DemoConfig


def learning_rate(step: int, peak: float, cfg: DemoConfig) -> float:
    """Pythia's schedule: linear warm-up over the first 1% of steps, then cosine from peak to 10% of peak.

    lr(t) = peak * (t + 1) / W for t < W, else peak * (m + (1 - m) * (1 + cos(pi * (t - W) / (T - W))) / 2),
    with W = max(1, round(warmup_frac * T)), T = max_step, m = min_lr_frac; t counts updates from 0.
    """
    total = cfg.max_step
    warmup = max(1, round(cfg.warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def data_seed(seed: int, epoch: int) -> int:
    """The data-order generator's seed: distinct from the init seed, different per epoch."""
    return 1_000_003 * (seed + 1) + 7919 * epoch + 17


class BatchSchedule:
    """The batch at step t is a pure function of (seed, t): sequences of an epoch in a seeded permutation."""

    def __init__(self, stream: np.ndarray, seed: int, batch_size: int, seq_len: int):
        import torch

        n = len(stream) // seq_len
        self.sequences = torch.from_numpy(stream[: n * seq_len].astype(np.int64)).view(n, seq_len)
        self.seed, self.batch_size = seed, batch_size
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int):
        import torch

        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(data_seed(self.seed, epoch))
            self._perms[epoch] = torch.randperm(len(self.sequences), generator=gen)
        return self._perms[epoch]

    def batch(self, step: int):
        import torch

        n = len(self.sequences)
        rows = []
        for i in range(step * self.batch_size, (step + 1) * self.batch_size):
            rows.append(self._perm(i // n)[i % n])
        return self.sequences[torch.stack(rows)]

"""Phase detection on a convergence curve: the four phases of the study, from the expected-KL curve of one size.

The study describes training as four phases of E[KL] across seeds (Fehlauer et al. 2025, sec. 4; their lines sit
near steps 16, 256 and 2000):

1. *uniform*: the models are still close to the uniform distribution; E[KL] is tiny, then grows a little as they
   leave it;
2. *sharp convergence*: the seeds fall onto the same (unigram-like) prediction; E[KL] drops to a local minimum;
3. *sharp divergence*: the models pick up context and disagree; E[KL] rises to its peak;
4. *slow reconvergence*: E[KL] slowly decreases again.

The rule (applied to E[KL] over the sorted steps of one size, E_0 .. E_{n-1}):

- the convergence minimum is the step i whose *dip depth* min(max(E_0..E_i) - E_i, max(E_i..E_{n-1}) - E_i) is
  largest, i.e. the deepest valley with higher ground on both sides; valleys shallower than ``min_depth`` times
  the curve's range count as noise;
- the divergence peak is argmax E over steps >= that minimum; slow reconvergence starts there;
- the uniform phase ends at argmax E over steps <= the minimum (where the sharp convergence starts);
- without such a valley (a curve that only rises and falls), the minimum is undefined, the peak is the global
  argmax, and the uniform phase ends, if ``kl_uniform`` is given, at the last step whose KL to uniform is still
  below ``uniform_fraction`` of its range above its first value;
- independently, the step closest to the unigram is argmin of KL(p || unigram) over steps > 0 (step 0 is the
  random initialisation, never a learnt unigram).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

PHASE_NAMES = ("uniform", "sharp convergence", "sharp divergence", "slow reconvergence")
# The study's published phase boundaries and the presentation's, for reference lines in plots.
PAPER_LINES = (16, 256, 2000)
PRESENTATION_LINES = (8, 64, 1000)


@dataclass(frozen=True)
class Phases:
    """Boundary steps of the four phases of one curve (None: not detectable on this curve)."""

    first_step: int | None
    last_step: int | None
    uniform_end_step: int | None
    convergence_min_step: int | None
    divergence_peak_step: int | None
    reconvergence_start_step: int | None
    unigram_closest_step: int | None

    def spans(self) -> list[tuple[str, int, int]]:
        """(phase name, start step, end step) for every phase whose two ends are known, in order.

        Without a convergence valley the sharp divergence starts where the uniform phase ends.
        """
        start_divergence = self.convergence_min_step if self.convergence_min_step is not None \
            else self.uniform_end_step
        phases = [
            ("uniform", self.first_step, self.uniform_end_step),
            ("sharp convergence", self.uniform_end_step, self.convergence_min_step),
            ("sharp divergence", start_divergence, self.divergence_peak_step),
            ("slow reconvergence", self.divergence_peak_step, self.last_step),
        ]
        return [(name, a, b) for name, a, b in phases if a is not None and b is not None and b > a]

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _clean(steps: Sequence[int], values: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray] | None:
    if values is None:
        return None
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=float)
    if s.shape != v.shape:
        raise ValueError(f"steps ({s.shape}) and values ({v.shape}) differ in shape")
    keep = np.isfinite(v)
    s, v = s[keep], v[keep]
    order = np.argsort(s, kind="stable")
    return s[order], v[order]


def deepest_valley(values: np.ndarray, min_depth: float = 0.05) -> int | None:
    """Index of the deepest valley (see the module rule), or None if none is deeper than min_depth * range."""
    if values.size < 3:
        return None
    span = float(values.max() - values.min())
    if span <= 0:
        return None
    left = np.maximum.accumulate(values) - values
    right = np.maximum.accumulate(values[::-1])[::-1] - values
    depth = np.minimum(left, right)
    i = int(np.argmax(depth))
    return i if depth[i] > min_depth * span else None


def detect_phases(
    steps: Sequence[int],
    expected_kl: Sequence[float],
    kl_uniform: Sequence[float] | None = None,
    kl_unigram: Sequence[float] | None = None,
    *,
    min_depth: float = 0.05,
    uniform_fraction: float = 0.1,
) -> Phases:
    """Phase boundaries of one E[KL] curve (steps need not be sorted; NaN values are ignored).

    ``kl_uniform`` and ``kl_unigram`` are the mean reference KLs at the same ``steps`` (optional).
    """
    curve = _clean(steps, expected_kl)
    s, e = curve if curve is not None else (np.array([], dtype=np.int64), np.array([]))
    first = int(s[0]) if s.size else None
    last = int(s[-1]) if s.size else None
    uniform_end = conv_min = peak = None

    i = deepest_valley(e, min_depth) if s.size else None
    if i is not None:
        conv_min = int(s[i])
        peak = int(s[i + int(np.argmax(e[i:]))])
        uniform_end = int(s[int(np.argmax(e[: i + 1]))])
    elif s.size:
        j = int(np.argmax(e))
        # A peak at the last step is a rising curve, not a divergence peak followed by reconvergence.
        peak = int(s[j]) if 0 < j < s.size - 1 else None

    if uniform_end is None and kl_uniform is not None:
        ref = _clean(steps, kl_uniform)
        if ref is not None and ref[0].size >= 2:
            rs, rv = ref
            rise = rv - rv[0]
            span = float(rise.max())
            if span > 0:
                below = np.nonzero(rise <= uniform_fraction * span)[0]
                # The last step of the initial run below the threshold (not a later dip back down).
                run_end = below[np.argmax(np.diff(np.append(below, below[-1] + 2)) > 1)]
                uniform_end = int(rs[run_end])

    unigram_closest = None
    if kl_unigram is not None:
        ref = _clean(steps, kl_unigram)
        if ref is not None:
            rs, rv = ref
            trained = rs > 0
            if trained.any():
                unigram_closest = int(rs[trained][int(np.argmin(rv[trained]))])

    return Phases(
        first_step=first,
        last_step=last,
        uniform_end_step=uniform_end,
        convergence_min_step=conv_min,
        divergence_peak_step=peak,
        reconvergence_start_step=peak,
        unigram_closest_step=unigram_closest,
    )

"""Phase detection on synthetic curves whose boundaries are known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from convdiv.analysis.phases import PHASE_NAMES, detect_phases, deepest_valley

PYTHIA_STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000,
                128000, 143000]


def four_phase_curve(steps, bump=16, valley=256, peak=2000):
    """Piecewise-linear in log(step+1): ~0 at step 0, rise to `bump`, fall to `valley`, rise to `peak`, decay."""
    x = np.log1p(np.asarray(steps, float))
    knots = np.log1p([0, bump, valley, peak, steps[-1]])
    values = [1e-6, 0.6, 0.15, 1.5, 0.9]
    return np.interp(x, knots, values)


@pytest.mark.parametrize("bump,valley,peak", [(16, 256, 2000), (8, 64, 1000), (4, 512, 8000)])
def test_four_phase_curve_recovers_boundaries(bump, valley, peak):
    e = four_phase_curve(PYTHIA_STEPS, bump, valley, peak)
    ph = detect_phases(PYTHIA_STEPS, e)
    assert (ph.uniform_end_step, ph.convergence_min_step, ph.divergence_peak_step) == (bump, valley, peak)
    assert ph.reconvergence_start_step == peak
    assert [name for name, *_ in ph.spans()] == list(PHASE_NAMES)
    assert ph.spans()[0] == ("uniform", 0, bump) and ph.spans()[-1] == ("slow reconvergence", peak, 143000)


def test_noise_does_not_move_boundaries_and_order_is_irrelevant():
    rng = np.random.default_rng(3)
    e = four_phase_curve(PYTHIA_STEPS) * np.exp(rng.normal(scale=0.03, size=len(PYTHIA_STEPS)))
    perm = rng.permutation(len(PYTHIA_STEPS))
    ph = detect_phases(np.array(PYTHIA_STEPS)[perm], e[perm])
    assert (ph.uniform_end_step, ph.convergence_min_step, ph.divergence_peak_step) == (16, 256, 2000)


def test_nan_points_are_ignored():
    e = four_phase_curve(PYTHIA_STEPS)
    e[PYTHIA_STEPS.index(512)] = np.nan
    ph = detect_phases(PYTHIA_STEPS, e)
    assert ph.convergence_min_step == 256 and ph.divergence_peak_step == 2000


def test_rise_and_fall_without_valley_uses_kl_uniform_for_uniform_end():
    steps = PYTHIA_STEPS
    x = np.log1p(np.asarray(steps, float))
    e = np.interp(x, np.log1p([0, 2000, 143000]), [0.1, 1.5, 1.0])  # monotone up, then down: no valley
    # KL to uniform stays at its start until step 32, then grows.
    kl_uniform = np.where(np.asarray(steps) <= 32, 1e-4, np.log1p(np.asarray(steps, float)))
    kl_unigram = np.abs(np.log1p(np.asarray(steps, float)) - np.log1p(256)) + 0.5
    ph = detect_phases(steps, e, kl_uniform=kl_uniform, kl_unigram=kl_unigram)
    assert ph.convergence_min_step is None
    assert ph.divergence_peak_step == 2000
    assert ph.uniform_end_step == 32
    assert ph.unigram_closest_step == 256
    assert ph.spans() == [("uniform", 0, 32), ("sharp divergence", 32, 2000), ("slow reconvergence", 2000, 143000)]


def test_unigram_closest_ignores_step_zero_and_monotone_curves_have_no_peak():
    steps = [0, 1, 10, 100]
    ph = detect_phases(steps, [3.0, 2.0, 1.0, 0.5], kl_unigram=[0.0, 2.0, 1.0, 1.5])
    assert ph.unigram_closest_step == 10
    assert ph.divergence_peak_step is None and ph.convergence_min_step is None
    rising = detect_phases(steps, [0.1, 0.2, 0.3, 0.4])
    assert rising.divergence_peak_step is None


def test_empty_and_flat_curves():
    ph = detect_phases([], [])
    assert ph.first_step is None and ph.spans() == []
    flat = detect_phases([0, 1, 2, 4], [0.5] * 4)
    assert flat.convergence_min_step is None and flat.divergence_peak_step is None
    assert deepest_valley(np.array([0.0, 1.0, 0.97, 1.0, 0.0])) is None  # 3% of the range: noise
    assert deepest_valley(np.array([0.0, 1.0, 0.5, 1.0, 0.0])) == 2

"""Every finding rule of the report on synthetic numbers: where its statement holds, where it does not, and where
the data cannot say (no sentence, or the sentence says so)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from convdiv.analysis.findings import (
    DEGENERATE_SHARE,
    MIN_CORRELATION_CATEGORIES,
    MIN_RANK_CORRELATION,
    NECESSARY_SHARE,
    SETTLED_FRACTION,
    frequency_account,
    learnability_account,
    necessity_account,
    reference_account,
    sigma_account,
    sigma_class,
    stability_account,
    stability_class,
    study_alpha_account,
)
from convdiv.analysis.phases import empty_spans, phase_account

STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000]


def consecutive(values) -> pd.DataFrame:
    return pd.DataFrame({"step": STEPS[: len(values)], "step_b": STEPS[1 : len(values) + 1], "mean_kl": values})


def test_learnability_settles_or_not_by_its_rule():
    settles = learnability_account(consecutive([2e-5, 0.01, 0.2, 0.45, 0.3, 0.1, 0.04]))
    assert "change most from step 4 to 8 (E[KL] 0.45 nats)" in settles
    assert "from step 0 to 1 the change is 2e-05 (0.0% of that)" in settles
    assert "from step 32 to 64 it is 0.04 (8.9%): settled" in settles
    moving = learnability_account(consecutive([2e-5, 0.2, 0.45, 0.3, 0.2]))
    assert "not settled" in moving and "44.4%" in moving
    assert SETTLED_FRACTION == 0.1
    still = learnability_account(consecutive([0.01, 0.1, 0.3]))
    assert "largest at the last ingested interval" in still
    assert learnability_account(consecutive([0.1])) is None


@pytest.mark.parametrize(
    "sigma, low, high, expected",
    [
        (1.5, 1.2, 1.9, "more"),
        (0.6, 0.5, 0.8, "less"),
        (1.05, 1.02, 1.08, "average"),  # precise, but under the 10% effect
        (1.5, 0.9, 2.4, "average"),  # large, but the interval includes 1
        (1.5, np.nan, np.nan, "unknown"),
    ],
)
def test_sigma_class(sigma, low, high, expected):
    assert sigma_class(sigma, low, high) == expected


def sigma_rows(values) -> pd.DataFrame:
    return pd.DataFrame([dict(step=s, sigma=v, sigma_low=lo, sigma_high=hi) for s, (v, lo, hi) in zip(STEPS, values)])


def test_sigma_account_counts_steps_both_ways():
    more = sigma_account(sigma_rows([(1.4, 1.2, 1.6)] * 3 + [(1.02, 0.9, 1.1)]), "continuations")
    assert more.startswith("continuations: diverge more than average at 3 of 4 steps (0, 1, 2)")
    assert "not distinguishable from average at 1 of 4 steps" in more
    assert more.endswith("at the last step, 4, sigma = 1.02 (0.90 to 1.10)")
    less = sigma_account(sigma_rows([(0.7, 0.6, 0.8)] * 2), "after MD")
    assert "diverge less than average at 2 of 2 steps" in less and "more" not in less
    blind = sigma_account(sigma_rows([(1.4, np.nan, np.nan)]), "after DT")
    assert "no interval" in blind and "diverge" not in blind
    assert sigma_account(sigma_rows([]).reindex(columns=["step", "sigma", "sigma_low", "sigma_high"]), "x") is None


def bins(kl, sigma=None) -> pd.DataFrame:
    sigma = sigma or [(np.nan, np.nan, np.nan)] * len(kl)
    return pd.DataFrame(
        {
            "category": [f"[{10**i},{10 ** (i + 1)})" for i in range(len(kl))],
            "category_order": range(len(kl)),
            "mean_kl": kl,
            "sigma": [s[0] for s in sigma],
            "sigma_low": [s[1] for s in sigma],
            "sigma_high": [s[2] for s in sigma],
        }
    )


def test_frequency_account_orders_the_bins():
    falls = frequency_account(bins([0.9, 0.6, 0.3], [(1.5, 1.3, 1.7), (1.0, 0.9, 1.1), (0.5, 0.4, 0.6)]))
    assert falls.startswith("E[KL] falls with frequency across every bin: lowest in [100,1000) (0.3 nats)")
    assert "the rarest bin [1,10) diverges more than average" in falls
    assert "the most frequent bin [100,1000) diverges less than average" in falls
    assert "is not monotone in frequency" in frequency_account(bins([0.9, 0.3, 0.6]))
    assert "rises with frequency" in frequency_account(bins([0.3, 0.6, 0.9]))
    assert frequency_account(bins([0.3])) is None


def test_reference_account_relates_the_unigram_step_to_the_convergence_minimum():
    ref = pd.DataFrame({"step": STEPS, "mean_kl_uniform": np.linspace(0, 5, 13), "mean_kl_unigram": np.ones(13)})
    same = reference_account(ref, {"unigram_closest_step": 256, "convergence_min_step": 256})
    assert "lowest at step 256 (1 nats), the step where E[KL] across seeds reaches its convergence minimum" in same
    apart = reference_account(ref, {"unigram_closest_step": 32, "convergence_min_step": 256})
    assert "convergence minimum at step 256, 3 checkpoint(s) apart" in apart
    none = reference_account(ref, {"unigram_closest_step": 32, "convergence_min_step": None})
    assert "no convergence minimum to compare it with" in none
    assert reference_account(ref, {}) == "KL to uniform is 0 nats at step 0 and 5 at step 2000"
    # a single-seed suite: the unigram step is still placed (reference curves only); E[KL] across seeds is not
    single = reference_account(ref, {"unigram_closest_step": 32}, seed_pairs=False)
    assert single.endswith(
        "lowest at step 32 (1 nats) (comparing it with the convergence minimum of E[KL] across seeds needs at least "
        "2 seeds)"
    )


POOLED = dict(kl_threshold=0.01, dh_threshold=0.05, share_low_kl_with_small_dh=0.95, share_small_dh_with_low_kl=0.4)


def test_necessity_holds_fails_and_is_degenerate():
    late = pd.Series([64, 128, 256, 512] * 5)
    holds = necessity_account(POOLED, late, uniform_end=32)
    assert "necessary but not sufficient for low KL here" in holds and f"{NECESSARY_SHARE:.0%}" in holds
    fails = necessity_account({**POOLED, "share_low_kl_with_small_dh": 0.6}, late, uniform_end=32)
    assert "not necessary on this data" in fails
    early = pd.Series([0, 1, 2] * 10 + [512])
    assert (early < 32).mean() >= DEGENERATE_SHARE
    degenerate = necessity_account(POOLED, early, uniform_end=32)
    assert "degenerate on this data, 30 of the 31 low-KL points lie before the uniform phase ends (step 32" in (
        degenerate
    )
    assert "necessary but" not in degenerate
    assert "degenerate" not in necessity_account(POOLED, early, uniform_end=None)


def test_study_alpha_comparison_both_ways():
    fit = dict(alpha=0.191, alpha_low=0.131, alpha_high=0.252, r2=0.4, n=120)
    opposite = study_alpha_account(fit, -2.05)
    assert opposite.startswith("alpha = 19.10% (13.10 to 25.20%, R^2 0.40, n = 120)")
    assert opposite.endswith("the study reports -2.05%: the opposite sign, outside our interval")
    agrees = study_alpha_account(dict(fit, alpha=3.5, alpha_low=2.0, alpha_high=5.0), 394.09)
    assert agrees.endswith("the same sign, inside our interval")
    one_seed = study_alpha_account(dict(fit, alpha_low=np.nan, alpha_high=np.nan, n_seeds=1), 394.09)
    assert one_seed == (
        "alpha = 19.10% (no interval, 1 seed(s): too few; R^2 0.40, n = 120); the study reports 394.09%: nothing "
        "claimed without an interval"
    )
    assert "nan" not in study_alpha_account(dict(fit, alpha_low=np.nan), 394.09)


BOUNDS = dict(
    first_step=0,
    last_step=2000,
    uniform_end_step=16,
    unigram_closest_step=256,
    convergence_min_step=256,
    divergence_peak_step=1000,
    reconvergence_start_step=1000,
    sharp_rise_start_step=256,
    sharp_rise_end_step=1000,
)
CURVE = dict(zip(STEPS, [1e-5, 1e-5, 2e-5, 1e-4, 0.01, 0.5, 0.4, 0.3, 0.2, 0.1, 0.6, 1.2, 0.9]))


def test_phase_account_narrates_the_boundaries_with_their_values():
    text = phase_account(BOUNDS, CURVE)
    assert text.startswith("E[KL] across seeds is 1e-05 nats at step 0; at most 0.5 nats up to step 16")
    assert "it falls to 0.1 at step 256 (sharp convergence)" in text
    assert "rises to its peak, 1.2 at step 1000" in text and "falls to 0.9 by step 2000, 25% below the peak" in text
    rising = {**CURVE, 32: 0.6, 64: 0.7, 128: 0.8, 256: 0.9}
    no_dip = phase_account(dict(BOUNDS, convergence_min_step=None), rising)
    assert "never dips below its value at the end of the uniform phase before its peak (lowest 0.5 at step 16)" in (
        no_dip
    )
    still = phase_account(dict(BOUNDS, divergence_peak_step=2000, reconvergence_start_step=None), CURVE)
    assert "still at its highest at the last step, 2000" in still


def test_a_zero_length_span_is_said_with_its_steps():
    assert empty_spans(BOUNDS) == []
    zero = empty_spans(dict(BOUNDS, uniform_end_step=32, sharp_rise_start_step=32))
    assert zero == [
        "the functional universality phase has zero length: it would run from the end of the uniform phase "
        "(step 32) to the start of the sharp rise of E[KL] (step 32)"
    ]


@pytest.mark.parametrize(
    "rho, low, high, n, expected, words",
    [
        (-0.6, -0.85, -0.2, 12, "holds", "earlier divergence goes with greater stability later"),
        (0.55, 0.1, 0.8, 12, "opposite", "the opposite of the slide"),
        (-0.2, -0.35, -0.05, 40, "not shown", "no relation shown"),  # precise, but under the 0.3 minimum
        (-0.6, -0.95, 0.3, 12, "not shown", "no relation shown"),  # large, but the interval includes 0
        (-0.6, np.nan, np.nan, 12, "no interval", "nothing claimed"),
        (-0.9, -0.99, -0.5, 4, "too few", "too few for a rank correlation"),
    ],
)
def test_stability_rule(rho, low, high, n, expected, words):
    assert MIN_RANK_CORRELATION == 0.3 and MIN_CORRELATION_CATEGORIES == 5
    assert stability_class(rho, low, high, n) == expected
    text = stability_account(dict(rho=rho, rho_low=low, rho_high=high, n_categories=n, n_seeds=5), "POS(t)")
    assert words in text and text.startswith("POS(t): ")
    if expected in ("holds", "opposite", "not shown"):
        assert f"rho = {rho:.2f}" in text and "n = " in text

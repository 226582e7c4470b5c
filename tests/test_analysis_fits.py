"""CE fits against independent computations: numpy.polyfit for the line, closed-form OLS for CI and R^2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from convdiv.analysis.fits import fit_categories, fit_line


def _closed_form(q, y):
    n = len(q)
    qm, ym = q.mean(), y.mean()
    sxx = ((q - qm) ** 2).sum()
    alpha = ((q - qm) * (y - ym)).sum() / sxx
    b = ym - alpha * qm
    resid = y - (alpha * q + b)
    s2 = (resid**2).sum() / (n - 2)
    se_alpha = np.sqrt(s2 / sxx)
    se_b = np.sqrt(s2 * (1 / n + qm**2 / sxx))
    t = stats.t.ppf(0.975, n - 2)
    r2 = 1 - (resid**2).sum() / ((y - ym) ** 2).sum()
    return alpha, b, se_alpha, se_b, t, r2


def test_fit_line_matches_polyfit_and_closed_form():
    rng = np.random.default_rng(0)
    q = rng.normal(size=40)
    y = 0.7 * q + 0.2 + rng.normal(scale=0.3, size=40)
    fit = fit_line(q, y)
    slope, intercept = np.polyfit(q, y, 1)
    assert fit.alpha == pytest.approx(slope, rel=1e-10)
    assert fit.b == pytest.approx(intercept, rel=1e-10)
    alpha, b, se_a, se_b, t, r2 = _closed_form(q, y)
    assert fit.alpha_se == pytest.approx(se_a, rel=1e-9)
    assert (fit.alpha_low, fit.alpha_high) == pytest.approx((alpha - t * se_a, alpha + t * se_a), rel=1e-9)
    assert (fit.b_low, fit.b_high) == pytest.approx((b - t * se_b, b + t * se_b), rel=1e-9)
    assert fit.r2 == pytest.approx(r2, rel=1e-10)
    assert fit.n == 40


def test_fit_line_drops_nonfinite_and_refuses_degenerate():
    q = np.array([0.0, 1.0, 2.0, np.nan, 3.0])
    y = np.array([1.0, 3.0, 5.0, 2.0, np.inf])
    fit = fit_line(q, y)
    assert fit.n == 3 and fit.alpha == pytest.approx(2.0) and fit.b == pytest.approx(1.0)
    assert np.isnan(fit_line([1.0, 2.0], [1.0, 2.0]).alpha)
    constant = fit_line([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert np.isnan(constant.alpha) and constant.note == "Q is constant"


def test_fit_categories_groups_and_sorts_by_alpha():
    rng = np.random.default_rng(1)
    rows = []
    for cat, slope in (("NN", 2.0), ("DT", -1.0), ("VB", 0.5)):
        q = rng.normal(size=30)
        for qi, yi in zip(q, slope * q + 1 + rng.normal(scale=0.05, size=30)):
            rows.append({"family": "pos_t", "category": cat, "delta_h": qi, "mean_kl": yi})
    rows.append({"family": "pos_t", "category": "MD", "delta_h": 0.1, "mean_kl": 0.2})  # too few pairs
    out = fit_categories(pd.DataFrame(rows))
    assert list(out["category"]) == ["DT", "VB", "NN", "MD"]
    for cat in ("DT", "VB", "NN"):
        sub = pd.DataFrame(rows)
        sub = sub[sub.category == cat]
        slope, _ = np.polyfit(sub.delta_h, sub.mean_kl, 1)
        assert out.set_index("category").loc[cat, "alpha"] == pytest.approx(slope, rel=1e-10)
    assert out.set_index("category").loc["MD", "note"] == "fewer than 3 pairs"
    assert fit_categories(pd.DataFrame(columns=["family", "category", "delta_h", "mean_kl"])).empty


def test_necessary_condition_shares_on_a_hand_made_cloud():
    # size m: 8 points; KL quartile threshold = 0.175 (low KL: 0.1, 0.15), |dH| median = 0.35
    df = pd.DataFrame(
        {
            "size_a": ["m"] * 8,
            "step_a": [1, 1, 1, 1, 2, 2, 2, 2],
            "mean_kl": [0.1, 0.15, 0.9, 0.8, 0.5, 0.6, 0.7, 1.0],
            "delta_h": [0.01, -0.05, 0.02, 0.9, 0.4, -0.3, 0.6, 0.8],
        }
    )
    from convdiv.analysis.fits import necessary_condition

    got = necessary_condition(df).set_index("step_a")
    assert got.loc[1, "kl_threshold"] == pytest.approx(np.quantile(df["mean_kl"], 0.25))
    assert got.loc[1, "dh_threshold"] == pytest.approx(np.quantile(df["delta_h"].abs(), 0.5))
    # step 1: both low-KL points have small |dH| (necessity 1.0); of its 3 small-|dH| points 2 have low KL
    assert (got.loc[1, "n_low_kl"], got.loc[1, "n_small_dh"]) == (2, 3)
    assert got.loc[1, "share_low_kl_with_small_dh"] == 1.0
    assert got.loc[1, "share_small_dh_with_low_kl"] == pytest.approx(2 / 3)
    # step 2: no low-KL point, so necessity is undefined there; one small |dH| (0.3), without low KL
    assert got.loc[2, "n_low_kl"] == 0 and np.isnan(got.loc[2, "share_low_kl_with_small_dh"])
    assert got.loc[2, "share_small_dh_with_low_kl"] == 0.0

"""Cross-entropy fits: how much of a category's divergence the change in cross-entropy explains.

For one category c (a POS tag, a frequency bin, ...) and a set of checkpoint pairs (a, b) pooled over sizes and
comparisons as in the study, the view ``ce_difference`` gives per pair

    KL_c(a, b)   mean KL over the category's positions,
    dH_c(a, b)   = H_c(a) - H_c(b), the difference of mean cross-entropies (nats),
    r_c(a, b)    = H_c(a) / H_c(b), their ratio.

The fit is ordinary least squares of

    KL_c = alpha * Q + b + eps,     Q in {dH, CE ratio},

with the textbook OLS quantities: alpha and b, their 95 % confidence intervals from the t distribution with
n - 2 degrees of freedom, R^2 = 1 - SSE / SST and n (number of pairs). A category with fewer than three pairs, or
with a constant Q, has no fit (NaN row with the reason), since its slope or its interval is undefined.

The OLS interval treats the pairs as independent, but the pairs of one run (its consecutive steps) share that run,
and a seed's runs of every size share the seed. With ``seeds`` given, fit_categories replaces it with the
leave-one-seed-out jackknife-t over seeds (analysis.intervals.jackknife_over_seeds): the line is refitted without
every pair that involves seed s, for each s, and the spread of those fits gives the interval, with seeds - 1 df.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from convdiv.analysis.intervals import jackknife_over_seeds

FIT_COLUMNS = (
    "alpha",
    "alpha_low",
    "alpha_high",
    "alpha_se",
    "b",
    "b_low",
    "b_high",
    "r2",
    "n",
    "note",
)
SEED_COLUMNS = ("n_seeds", "interval")
OLS_INTERVAL = "95% OLS t interval (pairs as independent)"
SEED_INTERVAL = "95% t interval over seeds (leave-one-seed-out jackknife)"


@dataclass(frozen=True)
class LinearFit:
    """KL = alpha * Q + b fitted by OLS; intervals are two-sided at ``level``."""

    alpha: float
    alpha_low: float
    alpha_high: float
    alpha_se: float
    b: float
    b_low: float
    b_high: float
    r2: float
    n: int
    note: str = ""

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in FIT_COLUMNS}


def _no_fit(n: int, note: str) -> LinearFit:
    nan = float("nan")
    return LinearFit(nan, nan, nan, nan, nan, nan, nan, nan, n, note)


def fit_line(q: np.ndarray, kl: np.ndarray, level: float = 0.95) -> LinearFit:
    """OLS of ``kl`` on ``q`` with an intercept (statsmodels); non-finite pairs are dropped first."""
    q = np.asarray(q, dtype=float)
    kl = np.asarray(kl, dtype=float)
    keep = np.isfinite(q) & np.isfinite(kl)
    q, kl = q[keep], kl[keep]
    n = int(q.size)
    if n < 3:
        return _no_fit(n, "fewer than 3 pairs")
    if np.ptp(q) == 0:
        return _no_fit(n, "Q is constant")
    res = sm.OLS(kl, sm.add_constant(q, has_constant="add")).fit()
    ci = res.conf_int(alpha=1 - level)
    b, alpha = res.params
    return LinearFit(
        alpha=float(alpha),
        alpha_low=float(ci[1, 0]),
        alpha_high=float(ci[1, 1]),
        alpha_se=float(res.bse[1]),
        b=float(b),
        b_low=float(ci[0, 0]),
        b_high=float(ci[0, 1]),
        # A perfect fit to a constant KL has SST = 0; statsmodels then gives nan, which is the honest answer.
        r2=float(res.rsquared),
        n=n,
    )


def _line(q: np.ndarray, kl: np.ndarray) -> tuple[float, float]:
    """OLS slope and intercept in closed form (the leave-one-seed-out refits)."""
    keep = np.isfinite(q) & np.isfinite(kl)
    q, kl = q[keep], kl[keep]
    if q.size < 3 or np.ptp(q) == 0:
        return float("nan"), float("nan")
    qc = q - q.mean()
    alpha = float(qc @ (kl - kl.mean()) / (qc @ qc))
    return alpha, float(kl.mean() - alpha * q.mean())


def seed_jackknife(group: pd.DataFrame, fit: LinearFit, q: str, y: str, seeds: tuple[str, str], level: float) -> dict:
    """alpha and b's interval over seeds: refit without the pairs of each seed (either side of the pair)."""
    a, b = group[seeds[0]].to_numpy(), group[seeds[1]].to_numpy()
    present = sorted(set(a) | set(b))
    if len(present) < 2 or not np.isfinite(fit.alpha):
        return {"alpha_low": np.nan, "alpha_high": np.nan, "alpha_se": np.nan, "b_low": np.nan, "b_high": np.nan}
    qq, yy = group[q].to_numpy(float), group[y].to_numpy(float)
    loo = pd.DataFrame(
        [_line(qq[(a != s) & (b != s)], yy[(a != s) & (b != s)]) for s in present],
        index=present,
        columns=["alpha", "b"],
    )
    jk = jackknife_over_seeds(loo, pd.Series({"alpha": fit.alpha, "b": fit.b}), level=level)
    return {
        "alpha_low": jk.loc["alpha", "ci_low"],
        "alpha_high": jk.loc["alpha", "ci_high"],
        "alpha_se": jk.loc["alpha", "se"],
        "b_low": jk.loc["b", "ci_low"],
        "b_high": jk.loc["b", "ci_high"],
    }


def fit_categories(
    df: pd.DataFrame,
    q: str = "delta_h",
    y: str = "mean_kl",
    by: tuple[str, ...] = ("family", "category"),
    level: float = 0.95,
    seeds: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """One fit per group of ``by`` (e.g. family, category), sorted by alpha ascending (NaN fits last).

    ``df`` holds one row per (checkpoint pair, category), e.g. the ``ce_difference`` view, already restricted to
    the pairs to pool. Returns the ``by`` columns, ``q`` (the regressor's name), :data:`FIT_COLUMNS`, n_seeds and
    interval (its kind). ``seeds`` (e.g. ('seed_a', 'seed_b')): the intervals of alpha and b over seeds (module
    docstring) instead of the OLS ones.
    """
    rows = []
    if not df.empty:
        for key, group in df.groupby(list(by), sort=True, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            fit = fit_line(group[q].to_numpy(), group[y].to_numpy(), level=level)
            row = {**dict(zip(by, key)), "q": q, **fit.as_dict(), "n_seeds": np.nan, "interval": OLS_INTERVAL}
            if seeds is not None:
                row["n_seeds"] = len(set(group[seeds[0]]) | set(group[seeds[1]]))
                row.update(seed_jackknife(group, fit, q, y, seeds, level), interval=SEED_INTERVAL)
            rows.append(row)
    out = pd.DataFrame(rows, columns=[*by, "q", *FIT_COLUMNS, *SEED_COLUMNS])
    return out.sort_values("alpha", na_position="last", kind="stable").reset_index(drop=True)


NECESSITY_COLUMNS = (
    "n_points",
    "kl_threshold",
    "dh_threshold",
    "n_low_kl",
    "n_small_dh",
    "share_low_kl_with_small_dh",
    "share_small_dh_with_low_kl",
)


def necessary_condition(
    df: pd.DataFrame,
    by: tuple[str, ...] = ("size_a", "step_a"),
    pool: tuple[str, ...] = ("size_a",),
    kl_quantile: float = 0.25,
    dh_quantile: float = 0.5,
    q: str = "delta_h",
    y: str = "mean_kl",
) -> pd.DataFrame:
    """The presentation's claim "a low cross-entropy difference is a necessary condition for low KL", measured.

    Over the (pair, category) points of ``df`` (as for :func:`fit_categories`), pooled per ``pool`` (a size):
    a point has *low KL* when KL_c <= the ``kl_quantile`` quantile of KL_c in its pool and a *small |dH|* when
    |dH_c| <= the ``dh_quantile`` quantile of |dH_c| in its pool. Per group of ``by`` (size and step) the result
    gives the share of low-KL points whose |dH| is small (necessity: 1.0 when every low KL comes with a small
    |dH|; ``dh_quantile`` when the two are unrelated) and the share of small-|dH| points with low KL
    (sufficiency, expected lower). Thresholds are returned with the shares so the statement is explicit; shares
    over no points are NaN.
    """
    cols = [*by, *NECESSITY_COLUMNS]
    d = df[np.isfinite(df[q].astype(float)) & np.isfinite(df[y].astype(float))]
    if d.empty:
        return pd.DataFrame(columns=cols)
    d = d.assign(_kl=d[y].astype(float), _dh=d[q].astype(float).abs())
    pools = d.groupby(list(pool))
    d["_kl_t"] = pools["_kl"].transform(lambda s: s.quantile(kl_quantile))
    d["_dh_t"] = pools["_dh"].transform(lambda s: s.quantile(dh_quantile))
    d["_low"] = d["_kl"] <= d["_kl_t"]
    d["_small"] = d["_dh"] <= d["_dh_t"]
    d["_both"] = d["_low"] & d["_small"]
    g = d.groupby(list(by), sort=True).agg(
        n_points=("_kl", "size"),
        kl_threshold=("_kl_t", "first"),
        dh_threshold=("_dh_t", "first"),
        n_low_kl=("_low", "sum"),
        n_small_dh=("_small", "sum"),
        n_both=("_both", "sum"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        g["share_low_kl_with_small_dh"] = np.where(g["n_low_kl"] > 0, g["n_both"] / g["n_low_kl"], np.nan)
        g["share_small_dh_with_low_kl"] = np.where(g["n_small_dh"] > 0, g["n_both"] / g["n_small_dh"], np.nan)
    return g.reset_index()[cols]

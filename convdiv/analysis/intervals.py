"""Intervals over seeds that are valid at 3-10 seeds: the leave-one-seed-out jackknife with Student's t.

Seeds are the unit of replication: a suite has S training runs per size, and every number of the report is a
statistic of comparisons between them. For one group (comparison kind, size, step) with seeds 1..S and comparisons
c between seeds a_c and b_c (a seed pair: a_c != b_c; a comparison within one run, a consecutive step or a
cross-size comparison: a_c = b_c):

    theta        the statistic on every comparison: E[KL] = mean_c KL_c, or sigma = E[KL | category] / E[KL]
    theta_(-s)   the same statistic on the comparisons that do not involve seed s
    se^2         = (S - 1) / S * sum_s (theta_(-s) - mean_s theta_(-s))^2           (Tukey's jackknife)
    interval     theta -/+ t_{(1 + level) / 2, S - 1} * se

Within runs (one comparison per seed) theta_(-s) is the mean without seed s and se is exactly the textbook
s / sqrt(S): the interval is the t interval over seeds. For seed pairs theta is a U-statistic of the seeds (every
seed takes part in S - 1 of the S (S - 1) / 2 pairs, so pairs sharing a seed are correlated); leaving a seed out
drops all its pairs, so se counts that covariance (Arvesen 1969: the jackknife variance of a U-statistic is
consistent and, at small S, conservative). It is exact when each seed shifts its pairs by a seed effect, and
conservative when pairs vary independently (tests/test_analysis_intervals.py measures the coverage by simulation:
on the linear scale 0.95 under seed effects at S = 3 and 5, 0.99 with independent pairs).

E[KL] and ratios (sigma) are jackknifed on the log scale: the interval exp(log theta -/+ t se_log) stays positive,
is symmetric in the ratio's own terms (2x and 0.5x are equally far from 1) and follows the right skew of KL, which
a symmetric interval undercovers (measured at 5 seeds when KL is a squared distance in 2-5 dimensions: linear
0.89-0.93, log 0.96-0.97).

Seed pairs need three seeds (without seed s, two seeds must still make a pair); comparisons within runs need two.
Groups with fewer get no interval (NaN), never a narrower one.

The percentile bootstrap over seeds (analysis.bootstrap) covers much less than its nominal level at these n
(measured 0.50-0.62 at 3 seeds, 0.79-0.88 at 5, 0.88-0.90 at 10, 0.92-0.93 at 20): the report draws it only from
MIN_BOOTSTRAP_SEEDS seeds on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95
# Fewest seeds for an interval: with seed pairs, leaving one seed out must leave a pair.
MIN_SEEDS_PAIRS = 3
MIN_SEEDS_RUNS = 2
# Fewest seeds for the percentile bootstrap over seeds: its measured coverage of a 95% interval reaches 0.92-0.93
# at 20 seeds (0.88-0.90 at 10; tests/test_analysis_intervals.py measures it).
MIN_BOOTSTRAP_SEEDS = 20
# The smallest relative divergence we call a difference: a category is marked as diverging more (or less) than
# average only when its interval excludes 1 *and* sigma >= 1.1 (or <= 1 / 1.1 ~ 0.91), |log sigma| >= log 1.1.
# A 10% difference; a narrower interval around sigma = 1.03 is precise, not different (issue 20 saw 81-159 cells
# per heatmap with |sigma - 1| < 0.05 ringed). The view's outlier band (0.8, 1.25) is the study's larger effect.
MIN_SIGMA_RATIO = 1.1
# The marking rule in words, for legends and guides.
MARK_WORDS = f"sigma >= {MIN_SIGMA_RATIO:g} or <= 1/{MIN_SIGMA_RATIO:g}"
INTERVAL_KIND = "95% t interval over seeds (leave-one-seed-out jackknife of the log mean, t with seeds - 1 df)"

INTERVAL_COLUMNS = (
    "n_seeds",
    "n_comparisons",
    "mean_kl",
    "se",
    "se_log",
    "df",
    "scale",
    "ci_low",
    "ci_high",
    "sigma",
    "log_sigma_se",
    "sigma_low",
    "sigma_high",
    "sigma_per_pair",
)


def t_quantile(df, level: float = LEVEL):
    """The (1 + level) / 2 quantile of Student's t with ``df`` degrees of freedom (NaN where df < 1)."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, stats.t.ppf(0.5 + level / 2, np.maximum(df, 1)), np.nan)


def sigma_marked(sigma, low, high, min_ratio: float = MIN_SIGMA_RATIO):
    """Cells whose interval excludes 1 and whose effect passes the minimum: |log sigma| >= log(min_ratio)."""
    sigma, low, high = (np.asarray(v, dtype=float) for v in (sigma, low, high))
    with np.errstate(invalid="ignore", divide="ignore"):
        excludes = (low > 1) | (high < 1)
        large = np.abs(np.log(sigma)) >= math.log(min_ratio)
    return excludes & large


def _involvement(comps: pd.DataFrame) -> pd.DataFrame:
    """(comparison_id, seed) for each seed a comparison involves (one row when both sides are one run)."""
    a = comps[["comparison_id", "seed_a"]].rename(columns={"seed_a": "seed"})
    b = comps.loc[comps["seed_a"] != comps["seed_b"], ["comparison_id", "seed_b"]].rename(columns={"seed_b": "seed"})
    return pd.concat([a, b], ignore_index=True)


def _leave_one_out(
    rows: pd.DataFrame, keys: list[str], involvement: pd.DataFrame, group_seeds: pd.DataFrame
) -> pd.DataFrame:
    """Per keys and seed: the mean of ``value`` over the comparisons that do not involve the seed (NaN if none).

    ``rows``: comparison_id, keys (the group _g among them), value; ``involvement``: comparison_id, seed;
    ``group_seeds``: _g, seed (every seed of the group).
    """
    total = rows.groupby(keys, sort=False).agg(_sum=("value", "sum"), _n=("value", "size")).reset_index()
    inv = rows.merge(involvement, on="comparison_id")
    by_seed = inv.groupby([*keys, "seed"], sort=False).agg(_sum_s=("value", "sum"), _n_s=("value", "size"))
    grid = total.merge(group_seeds, on="_g")
    grid = grid.merge(by_seed.reset_index(), on=[*keys, "seed"], how="left").fillna({"_sum_s": 0.0, "_n_s": 0})
    left = grid["_n"] - grid["_n_s"]
    grid["loo"] = np.where(left > 0, (grid["_sum"] - grid["_sum_s"]) / left.where(left > 0, 1), np.nan)
    return grid[[*keys, "seed", "loo"]]


def _jackknife_se(loo: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Per keys: n_seeds and the jackknife standard error of the leave-one-out values (NaN if any is missing)."""
    g = loo.groupby(keys, sort=False)[value]
    out = g.agg(_m="mean", _var="var", _s="size", _ok="count").reset_index()
    s = out["_s"].astype(float)
    # (S - 1) / S * sum (x - mean)^2 = (S - 1)^2 / S * var(ddof=1)
    out["se"] = np.sqrt((s - 1) ** 2 / s * out["_var"])
    out.loc[out["_ok"] < out["_s"], "se"] = np.nan
    return out[[*keys, "se"]]


def _groups(comps: pd.DataFrame) -> pd.DataFrame:
    """Per group _g: whether it holds seed pairs, its comparisons and seeds, df and whether an interval is valid."""
    comps = comps.assign(_pair=comps["seed_a"] != comps["seed_b"])
    groups = comps.groupby("_g").agg(_pairs=("_pair", "any"), n_comparisons=("comparison_id", "size"))
    seeds = _involvement(comps).merge(comps[["comparison_id", "_g"]], on="comparison_id")
    groups["n_seeds"] = seeds.drop_duplicates(["_g", "seed"]).groupby("_g").size()
    groups["df"] = (groups["n_seeds"] - 1).astype(float)
    groups["_enough"] = groups["n_seeds"] >= np.where(groups["_pairs"], MIN_SEEDS_PAIRS, MIN_SEEDS_RUNS)
    return groups


def _sigma_terms(rows: pd.DataFrame, loo: pd.DataFrame, ckeys: list[str]) -> pd.DataFrame:
    """Per category: log_sigma_se (jackknife of log(E[KL | c] / E[KL]) without each seed) and sigma_per_pair."""
    loo_all = loo[loo["family"] == "all"][["_g", "seed", "loo"]].rename(columns={"loo": "_all"})
    ratio = loo.merge(loo_all, on=["_g", "seed"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio["log_sigma"] = np.log(ratio["loo"] / ratio["_all"])
    log_se = _jackknife_se(ratio[ratio["family"] != "all"], ckeys, "log_sigma").rename(columns={"se": "log_sigma_se"})
    # the study's per-pair version: the mean over comparisons of each comparison's own ratio (docs/sql.md)
    own = rows[rows["family"] == "all"].set_index("comparison_id")["value"]
    per_pair = (
        rows.assign(_r=rows["value"] / rows["comparison_id"].map(own).to_numpy())
        .groupby(ckeys, sort=False)["_r"]
        .mean()
        .rename("sigma_per_pair")
        .reset_index()
    )
    return per_pair.merge(log_se, on=ckeys, how="left")


def _bounds(est: pd.DataFrame, scale: str, level: float) -> pd.DataFrame:
    """ci_low / ci_high of mean_kl (log scale unless linear is asked or needed) and sigma_low / sigma_high."""
    q = t_quantile(est["df"], level)
    linear = (scale == "linear") | est["se_log"].isna() & est["se"].notna()
    est["scale"] = np.where(linear, "linear", "log")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_mean = np.log(est["mean_kl"])
        est["ci_low"] = np.where(linear, est["mean_kl"] - q * est["se"], np.exp(log_mean - q * est["se_log"]))
        est["ci_high"] = np.where(linear, est["mean_kl"] + q * est["se"], np.exp(log_mean + q * est["se_log"]))
        log_sigma = np.log(est["sigma"])
        est["sigma_low"] = np.exp(log_sigma - q * est["log_sigma_se"])
        est["sigma_high"] = np.exp(log_sigma + q * est["log_sigma_se"])
    return est


def seed_intervals(
    pairs: pd.DataFrame,
    keys: Sequence[str] = ("kind", "size", "step"),
    level: float = LEVEL,
    scale: str = "log",
) -> pd.DataFrame:
    """Jackknife-t intervals over seeds of E[KL] and of sigma per group of ``keys``, family and category.

    ``pairs``: one row per (comparison, category) with ``keys``, comparison_id, seed_a, seed_b, family, category
    and mean_kl (the comparison's mean KL over the category's positions; family 'all', category 'all' over every
    position), e.g. the comparison_kl view. Returns one row per keys + family + category with INTERVAL_COLUMNS:
    mean_kl (the unweighted mean over comparisons, as the views), se (of mean_kl) and se_log (of its log), df =
    n_seeds - 1, ci_low / ci_high (the interval of mean_kl: on the log scale, exp(log mean -/+ t se_log), unless
    ``scale`` is 'linear' or a leave-one-out mean is 0; column scale says which), sigma = mean_kl / the group's
    E[KL] (NaN for 'all') with log_sigma_se and sigma_low / sigma_high, and sigma_per_pair (the mean over
    comparisons of each comparison's own ratio, the study's per-pair version; no interval). Too few seeds (see the
    module docstring): NaN se and intervals.
    """
    keys = list(keys)
    cols = [*keys, "family", "category", *INTERVAL_COLUMNS]
    if pairs.empty or not (pairs["family"] == "all").any():
        return pd.DataFrame(columns=cols)
    pairs = pairs[[*keys, "comparison_id", "seed_a", "seed_b", "family", "category", "mean_kl"]]
    comps = pairs[pairs["family"] == "all"].drop_duplicates("comparison_id").copy()
    comps["_g"] = comps.groupby(keys, sort=False).ngroup()
    inv = _involvement(comps)
    group_seeds = inv.merge(comps[["comparison_id", "_g"]], on="comparison_id")[["_g", "seed"]].drop_duplicates()
    groups = _groups(comps)

    rows = pairs.merge(comps[["comparison_id", "_g"]], on="comparison_id").rename(columns={"mean_kl": "value"})
    ckeys = ["_g", "family", "category"]
    est = rows.groupby(ckeys, sort=False)["value"].mean().rename("mean_kl").reset_index()
    loo = _leave_one_out(rows, ckeys, inv, group_seeds)
    est = est.merge(_jackknife_se(loo, ckeys, "loo"), on=ckeys)
    with np.errstate(divide="ignore", invalid="ignore"):
        # a leave-one-out mean of 0 (every other comparison exactly 0) has no log: that group falls back to linear
        logged = loo.assign(log_loo=np.log(loo["loo"].where(loo["loo"] > 0)))
    est = est.merge(_jackknife_se(logged, ckeys, "log_loo").rename(columns={"se": "se_log"}), on=ckeys)
    est = est.merge(_sigma_terms(rows, loo, ckeys), on=ckeys, how="left")
    overall = est[est["family"] == "all"].set_index("_g")["mean_kl"]
    all_rows = est["family"] == "all"
    est["sigma"] = np.where(all_rows, np.nan, est["mean_kl"] / est["_g"].map(overall))
    est.loc[all_rows, "sigma_per_pair"] = np.nan
    est = est.merge(groups[["n_seeds", "n_comparisons", "df", "_enough"]], left_on="_g", right_index=True)
    est.loc[~est["_enough"].astype(bool), ["se", "se_log", "log_sigma_se"]] = np.nan
    est = _bounds(est, scale, level).merge(comps.drop_duplicates("_g")[["_g", *keys]], on="_g")
    return est[cols].reset_index(drop=True)


def jackknife_over_seeds(estimates: pd.DataFrame, full: pd.Series, level: float = LEVEL) -> pd.DataFrame:
    """Jackknife-t intervals of any statistic from its leave-one-seed-out values.

    ``estimates``: one row per left-out seed (index: the seed), one column per quantity; ``full``: the quantities on
    all seeds. Returns one row per quantity: estimate (= full), se, df (seeds - 1), ci_low, ci_high. Quantities
    with a missing leave-one-out value get NaN intervals.
    """
    s = len(estimates)
    loo = estimates.astype(float)
    se = np.sqrt((s - 1) / s * ((loo - loo.mean()) ** 2).sum()) if s >= 2 else pd.Series(np.nan, index=loo.columns)
    se[loo.isna().any()] = np.nan
    q = float(t_quantile(s - 1, level)) if s >= 2 else np.nan
    est = full.reindex(loo.columns).astype(float)
    return pd.DataFrame(
        {"estimate": est, "se": se, "df": float(s - 1), "ci_low": est - q * se, "ci_high": est + q * se}
    )

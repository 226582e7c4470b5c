"""Bootstrap over seeds: intervals for E[KL], relative divergence sigma and the regression's coefficients.

The study reports E[KL] with +-1 SD over seed pairs and no interval for sigma or the regression. Pairs of seeds are
not independent (every seed takes part in S - 1 pairs), so the unit to resample is the seed, not the pair:

1. draw S seeds with replacement from the S seeds of the suite (one draw shared by all sizes and steps, so the
   replicate is one alternative set of training runs); seed s appears c_s times;
2. recompute every comparison-level mean with the comparison's weight in that replicate: a seed pair (a, b),
   a != b, stands for the c_a * c_b pairs between copies of a and copies of b; a comparison within one run (a
   consecutive step, seed_a = seed_b) stands for its c_a copies; pairs of a seed with its own copy are no pairs
   (their KL is 0 by construction), so a draw with a single distinct seed has no pairs and is drawn again;
3. the statistic of the replicate is the weighted mean (E[KL]), the ratio of weighted means (sigma = E[KL | c] /
   E[KL], as the view computes it), or the OLS fit on the weighted sufficient statistics (regression; weighted
   moments are exactly the moments of the duplicated rows);
4. the interval is the percentile interval of B replicates (2.5 % and 97.5 % by default).

With S seeds there are only C(2S - 1, S) distinct draws (10 for S = 3, 126 for S = 5), so with few seeds the
interval is coarse; with S = 2 every valid draw weights the one pair alike and the interval collapses onto the
estimate, so fewer than three seeds give no interval (NaN). At small S the percentile interval covers much less than
its level (measured in tests/test_analysis_intervals.py): the report draws it only from
analysis.intervals.MIN_BOOTSTRAP_SEEDS seeds on and otherwise shows the jackknife-t interval of analysis.intervals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from convdiv.analysis.regression import (
    MOMENT_COLUMNS,
    _design,
    _moments_design,
    _prepare_moments,
    term_names,
)

DEFAULT_REPLICATES = 200
MIN_SEEDS = 3


def seed_counts(seeds: Sequence[int], replicates: int = DEFAULT_REPLICATES, rng_seed: int = 0) -> np.ndarray:
    """(replicates x S) counts of each seed in each draw, every draw with at least two distinct seeds."""
    seeds = list(seeds)
    s = len(seeds)
    if s < 2:
        raise ValueError("the bootstrap over seeds needs at least two seeds")
    rng = np.random.default_rng(rng_seed)
    out = np.empty((0, s), dtype=np.int64)
    while len(out) < replicates:
        draws = rng.multinomial(s, np.full(s, 1.0 / s), size=2 * replicates)
        out = np.vstack([out, draws[(draws > 0).sum(axis=1) >= 2]])
    return out[:replicates]


def comparison_weights(
    counts: np.ndarray, seeds: Sequence[int], seed_a: Iterable[int], seed_b: Iterable[int]
) -> np.ndarray:
    """(replicates x comparisons) weights: c_a * c_b for a seed pair, c_a for a comparison within one run."""
    index = {int(s): i for i, s in enumerate(seeds)}
    ia = np.array([index[int(s)] for s in seed_a], dtype=np.int64)
    ib = np.array([index[int(s)] for s in seed_b], dtype=np.int64)
    ca, cb = counts[:, ia].astype(float), counts[:, ib].astype(float)
    return np.where(ia == ib, ca, ca * cb)


def _percentiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the (1 - level) / 2 and (1 + level) / 2 quantiles of the finite values (linear interpolation, as
    numpy.nanpercentile), NaN for a column without any; vectorised: nanpercentile loops over columns in Python."""
    ordered = np.sort(np.where(np.isfinite(values), values, np.nan), axis=0)  # NaN sort last
    n = np.isfinite(values).sum(axis=0)
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        pos = np.maximum(n - 1, 0) * q
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(n - 1, 0))
        frac = pos - below
        a = np.take_along_axis(ordered, below[None, :], axis=0)[0]
        b = np.take_along_axis(ordered, above[None, :], axis=0)[0]
        out.append(np.where(n > 0, a + (b - a) * frac, np.nan))
    return out[0], out[1]


def _group_sums(weights: np.ndarray, values: np.ndarray, starts: np.ndarray, chunk: int = 32) -> tuple:
    """Per replicate and segment (rows sorted by segment, ``starts`` its first rows): sum of w * v and of w."""
    num = np.empty((weights.shape[0], len(starts)))
    den = np.empty_like(num)
    for b in range(0, weights.shape[0], chunk):  # chunks of replicates bound the (replicates x rows) temporaries
        w = weights[b : b + chunk]
        num[b : b + chunk] = np.add.reduceat(w * values, starts, axis=1)
        den[b : b + chunk] = np.add.reduceat(w, starts, axis=1)
    return num, den


@dataclass
class _Groups:
    """The comparisons of every group of ``keys`` and the bootstrap replicates of each group's E[KL]."""

    comps: pd.DataFrame  # one row per comparison, sorted by group (_g), with its mean_kl over all positions
    groups: pd.DataFrame  # one row per group: keys, _g, n_seeds, mean_kl, boot_low, boot_high
    ok: np.ndarray  # per group: enough seeds for an interval
    weights: np.ndarray | None  # replicates x comparisons; None with fewer than two seeds
    rep_all: np.ndarray | None  # replicates x groups: the replicate's E[KL]; None with fewer than two seeds


def expected_kl_intervals(
    pairs: pd.DataFrame,
    keys: Sequence[str] = ("kind", "size", "step"),
    replicates: int = DEFAULT_REPLICATES,
    level: float = 0.95,
    rng_seed: int = 0,
    min_seeds: int = MIN_SEEDS,
) -> pd.DataFrame:
    """Bootstrap intervals of E[KL] and of sigma per category.

    ``pairs``: one row per (comparison, category) with ``keys``, seed_a, seed_b, comparison_id, family,
    category and mean_kl; family 'all' (category 'all') is the comparison's mean over all positions. Returns one
    row per ``keys`` + family + category: mean_kl (the estimate: unweighted mean over comparisons), sigma (ratio of
    means, as the view; NaN for 'all'), sigma_per_pair (the mean over comparisons of each comparison's own ratio,
    the per-pair version), boot_low / boot_high (interval of mean_kl), sigma_low / sigma_high (interval of sigma),
    sigma_excludes_1 and n_seeds. Groups with fewer than ``min_seeds`` seeds (at least MIN_SEEDS) get NaN intervals.
    """
    keys = list(keys)
    cols = [
        *keys,
        "family",
        "category",
        "mean_kl",
        "boot_low",
        "boot_high",
        "sigma",
        "sigma_per_pair",
        "sigma_low",
        "sigma_high",
        "n_seeds",
        "sigma_excludes_1",
    ]
    allrows = pairs[pairs["family"] == "all"]
    if allrows.empty:
        return pd.DataFrame(columns=cols)
    seeds = sorted(set(pairs["seed_a"].astype(int)) | set(pairs["seed_b"].astype(int)))
    g = _overall_intervals(allrows, seeds, keys, replicates, level, rng_seed, min_seeds)
    out = [
        g.groups.assign(
            family="all", category="all", sigma=np.nan, sigma_per_pair=np.nan, sigma_low=np.nan, sigma_high=np.nan
        )
    ]
    segs = _category_intervals(pairs[pairs["family"] != "all"], g, keys, level)
    if segs is not None:
        out.append(segs)
    result = pd.concat(out, ignore_index=True)
    result["sigma_excludes_1"] = (result["sigma_low"] > 1) | (result["sigma_high"] < 1)
    return result[cols].reset_index(drop=True)


def _overall_intervals(
    allrows: pd.DataFrame,
    seeds: list[int],
    keys: list[str],
    replicates: int,
    level: float,
    rng_seed: int,
    min_seeds: int,
) -> _Groups:
    """Per group of ``keys``: E[KL] over its comparisons (family 'all') and its percentile interval."""
    # comparisons sorted by group; one weight column per comparison
    comps = allrows.sort_values([*keys, "comparison_id"]).drop_duplicates("comparison_id").reset_index(drop=True)
    comps["_g"] = comps.groupby(keys, sort=False).ngroup()
    overall = comps["mean_kl"].to_numpy(float)
    seed_sets = comps.groupby("_g")[["seed_a", "seed_b"]].apply(lambda d: len(set(d["seed_a"]) | set(d["seed_b"])))
    groups = comps.drop_duplicates("_g")[[*keys, "_g"]].reset_index(drop=True)
    groups["n_seeds"] = groups["_g"].map(seed_sets)
    groups["mean_kl"] = comps.groupby("_g")["mean_kl"].mean().to_numpy()
    ok = (groups["n_seeds"] >= max(min_seeds, MIN_SEEDS)).to_numpy() & (len(seeds) >= 2)
    weights = rep_all = None
    if len(seeds) >= 2:
        counts = seed_counts(seeds, replicates, rng_seed)
        weights = comparison_weights(counts, seeds, comps["seed_a"], comps["seed_b"])
        starts = np.flatnonzero(np.r_[True, np.diff(comps["_g"].to_numpy()) != 0])
        num, den = _group_sums(weights, overall, starts)
        with np.errstate(divide="ignore", invalid="ignore"):
            rep_all = num / den  # replicates x groups
        lo, hi = _percentiles(rep_all, level)
    else:
        lo = hi = np.full(len(groups), np.nan)
    groups["boot_low"] = np.where(ok, lo, np.nan)
    groups["boot_high"] = np.where(ok, hi, np.nan)
    return _Groups(comps, groups, ok, weights, rep_all)


def _category_intervals(cats: pd.DataFrame, g: _Groups, keys: list[str], level: float) -> pd.DataFrame | None:
    """Per group and category: E[KL | category], sigma (the ratio of means) and sigma_per_pair, with the
    intervals of E[KL | category] and of sigma from the same replicates as the group's; None without categories."""
    comps, groups = g.comps, g.groups
    overall = comps["mean_kl"].to_numpy(float)
    index = pd.Series(np.arange(len(comps)), index=comps["comparison_id"])
    cats = cats[cats["comparison_id"].isin(index.index)]
    if cats.empty:
        return None
    cats = cats.assign(_c=index.loc[cats["comparison_id"]].to_numpy())
    cats = cats.assign(
        _g=comps["_g"].to_numpy()[cats["_c"].to_numpy()],
        _ratio=cats["mean_kl"].to_numpy(float) / overall[cats["_c"].to_numpy()],
    )
    cats = cats.sort_values(["_g", "family", "category", "_c"]).reset_index(drop=True)
    seg = cats.groupby(["_g", "family", "category"], sort=False)
    segs = seg.agg(mean_kl=("mean_kl", "mean"), sigma_per_pair=("_ratio", "mean")).reset_index()
    segs = segs.merge(groups[[*keys, "_g", "n_seeds"]], on="_g")
    segs["sigma"] = segs["mean_kl"] / groups.set_index("_g").loc[segs["_g"], "mean_kl"].to_numpy()
    if g.rep_all is None or g.weights is None:
        return segs.assign(boot_low=np.nan, boot_high=np.nan, sigma_low=np.nan, sigma_high=np.nan)
    starts = np.flatnonzero(np.r_[True, (seg.ngroup().to_numpy()[1:] != seg.ngroup().to_numpy()[:-1])])
    num, den = _group_sums(g.weights[:, cats["_c"].to_numpy()], cats["mean_kl"].to_numpy(float), starts)
    with np.errstate(divide="ignore", invalid="ignore"):
        rep_c = num / den
        rep_sigma = rep_c / g.rep_all[:, segs["_g"].to_numpy()]
    c_lo, c_hi = _percentiles(rep_c, level)
    s_lo, s_hi = _percentiles(rep_sigma, level)
    seg_ok = g.ok[segs["_g"].to_numpy()]
    segs["boot_low"], segs["boot_high"] = np.where(seg_ok, c_lo, np.nan), np.where(seg_ok, c_hi, np.nan)
    segs["sigma_low"], segs["sigma_high"] = np.where(seg_ok, s_lo, np.nan), np.where(seg_ok, s_hi, np.nan)
    return segs


def _design_for(moments: pd.DataFrame, size_order: Sequence[str] | None):
    """Formula design shared by every comparison: indicator rows per (size, POS(t), POS(t-1)) group."""
    df = _prepare_moments(moments)
    formula, _references, _notes, varies = _moments_design(df, size_order)
    keys = ["size", "pos_t", "pos_prev"]
    combos = df[keys].drop_duplicates().reset_index(drop=True)
    D_all, d_names = _design(combos.assign(mean_kl=0.0, n=1.0), formula)
    row = pd.Series(np.arange(len(combos)), index=pd.MultiIndex.from_frame(combos))
    return df, D_all, d_names, row, varies


def regression_intervals(
    moments: pd.DataFrame,
    size_order: Sequence[str] | None = None,
    by: str = "step",
    replicates: int = DEFAULT_REPLICATES,
    level: float = 0.95,
    rng_seed: int = 0,
    min_seeds: int = MIN_SEEDS,
) -> pd.DataFrame:
    """Bootstrap percentile intervals of every regression coefficient per step.

    ``moments``: the regression's sufficient statistics per (comparison, size, POS(t), POS(t-1)) with columns
    comparison_id, seed_a, seed_b, ``by``, size, pos_t, pos_prev and MOMENT_COLUMNS. Per comparison p the
    normal equations' pieces X'X_p and X'y_p are built once; a replicate's X'X and X'y are the weighted sums
    over comparisons, so B replicates cost B small solves. Returns step, term, boot_low, boot_high, n_seeds
    (terms named as in RegressionFit.coefficients). Steps with fewer than ``min_seeds`` seeds (at least MIN_SEEDS) are
    left out.
    """
    cols = [by, "term", "boot_low", "boot_high", "n_seeds"]
    if moments.empty:
        return pd.DataFrame(columns=cols)
    df, D_all, d_names, row, varies = _design_for(moments, size_order)
    seeds = sorted(set(df["seed_a"].astype(int)) | set(df["seed_b"].astype(int)))
    min_seeds = max(min_seeds, MIN_SEEDS)
    if len(seeds) < min_seeds:
        return pd.DataFrame(columns=cols)
    counts = seed_counts(seeds, replicates, rng_seed)
    q = len(d_names)
    names = [d_names[0], "log_frequency", *d_names[1:]] if varies else list(d_names)
    order = [0, q] + list(range(1, q)) if varies else list(range(q))
    terms = term_names(names)
    df = df.assign(_row=row.loc[pd.MultiIndex.from_frame(df[["size", "pos_t", "pos_prev"]])].to_numpy())
    out: list[dict[str, Any]] = []
    for value, g in df.groupby(by, sort=True):
        comps = g.drop_duplicates("comparison_id")[["comparison_id", "seed_a", "seed_b"]]
        n_seeds = len(set(comps["seed_a"]) | set(comps["seed_b"]))
        if n_seeds < min_seeds:
            continue
        xtx, xty = _normal_equations(g, comps, D_all, q, order, varies)
        w = comparison_weights(counts, seeds, comps["seed_a"], comps["seed_b"])
        est = _replicate_fits(w[w.sum(axis=1) > 0], xtx, xty)
        lo, hi = _percentiles(est, level)
        out.extend(
            {by: value, "term": t, "boot_low": float(lo[j]), "boot_high": float(hi[j]), "n_seeds": n_seeds}
            for j, t in enumerate(terms)
        )
    return pd.DataFrame(out, columns=cols)


def _normal_equations(
    g: pd.DataFrame, comps: pd.DataFrame, D_all: np.ndarray, q: int, order: list[int], varies: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per comparison of one step, its pieces X'X_p and X'y_p of the normal equations (log frequency as the
    second column where it varies), from its sufficient statistics per (size, POS(t), POS(t-1)) group."""
    k = len(order)
    index = {cid: i for i, cid in enumerate(comps["comparison_id"])}
    xtx = np.zeros((len(comps), k, k))
    xty = np.zeros((len(comps), k))
    # Comparisons of one size cover the same positions, so their X'X (which depends on the regressors only) is
    # one matrix per size: built once and reused (the q x q products dominated at paper scale).
    cache: dict[bytes, np.ndarray] = {}
    for cid, gc in g.groupby("comparison_id", sort=False):
        i = index[cid]
        rows = gc["_row"].to_numpy()
        D = D_all[rows]
        n = gc["n"].to_numpy()
        xty_d = D.T @ gc["sum_kl"].to_numpy()
        key = b"".join(a.tobytes() for a in (rows, n, gc["sum_lf"].to_numpy(), gc["sum_lf2"].to_numpy()))
        if key not in cache:
            xtx_d = D.T @ (D * n[:, None])
            if varies:
                cross = D.T @ gc["sum_lf"].to_numpy()
                full = np.zeros((q + 1, q + 1))
                full[:q, :q] = xtx_d
                full[:q, q] = cross
                full[q, :q] = cross
                full[q, q] = gc["sum_lf2"].sum()
                cache[key] = full[np.ix_(order, order)]
            else:
                cache[key] = xtx_d
        xtx[i] = cache[key]
        xty[i] = np.append(xty_d, gc["sum_lf_kl"].sum())[order] if varies else xty_d
    return xtx, xty


def _replicate_fits(w: np.ndarray, xtx: np.ndarray, xty: np.ndarray) -> np.ndarray:
    """(replicates x terms) coefficients: each replicate solves the comparisons' normal equations summed with its
    weights ``w`` (replicates x comparisons)."""
    rep_xtx = np.einsum("bp,pij->bij", w, xtx)
    rep_xty = w @ xty
    try:
        return np.linalg.solve(rep_xtx, rep_xty[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # a level without rows in this step (or a draw): pinv, as the point fit does
        return np.einsum("bij,bj->bi", np.linalg.pinv(rep_xtx, hermitian=True), rep_xty)


__all__ = [
    "DEFAULT_REPLICATES",
    "MIN_SEEDS",
    "MOMENT_COLUMNS",
    "comparison_weights",
    "expected_kl_intervals",
    "regression_intervals",
    "seed_counts",
]

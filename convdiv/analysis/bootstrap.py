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
estimate, so fewer than three seeds give no interval (NaN).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from convdiv.analysis.regression import (
    MOMENT_COLUMNS, _design, _moments_design, _prepare_moments, term_names,
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


def comparison_weights(counts: np.ndarray, seeds: Sequence[int], seed_a: Sequence[int],
                       seed_b: Sequence[int]) -> np.ndarray:
    """(replicates x comparisons) weights: c_a * c_b for a seed pair, c_a for a comparison within one run."""
    index = {int(s): i for i, s in enumerate(seeds)}
    ia = np.array([index[int(s)] for s in seed_a], dtype=np.int64)
    ib = np.array([index[int(s)] for s in seed_b], dtype=np.int64)
    ca, cb = counts[:, ia].astype(float), counts[:, ib].astype(float)
    return np.where(ia == ib, ca, ca * cb)


def _percentiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.nanpercentile(values, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lo, hi


def expected_kl_intervals(pairs: pd.DataFrame, keys: Sequence[str] = ("kind", "size", "step"),
                          replicates: int = DEFAULT_REPLICATES, level: float = 0.95,
                          rng_seed: int = 0) -> pd.DataFrame:
    """Bootstrap intervals of E[KL] and of sigma per category.

    ``pairs``: one row per (comparison, category) with ``keys``, seed_a, seed_b, comparison_id, family,
    category and mean_kl; family 'all' (category 'all') is the comparison's mean over all positions. Returns one
    row per ``keys`` + family + category: mean_kl (the estimate: unweighted mean over comparisons), sigma (for
    categories; NaN for 'all'), boot_low / boot_high (interval of mean_kl), sigma_low / sigma_high, and
    n_seeds. Groups with fewer than MIN_SEEDS seeds get NaN intervals.
    """
    keys = list(keys)
    cols = [*keys, "family", "category", "mean_kl", "boot_low", "boot_high", "sigma", "sigma_low", "sigma_high",
            "n_seeds"]
    if pairs.empty:
        return pd.DataFrame(columns=cols)
    seeds = sorted(set(pairs["seed_a"].astype(int)) | set(pairs["seed_b"].astype(int)))
    counts = seed_counts(seeds, replicates, rng_seed) if len(seeds) >= 2 else None
    rows = []
    for key, g in pairs.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        allrows = g[g["family"] == "all"]
        comps = allrows["comparison_id"].to_numpy()
        n_seeds = len(set(allrows["seed_a"]) | set(allrows["seed_b"]))
        if len(comps) == 0:
            continue
        w = comparison_weights(counts, seeds, allrows["seed_a"], allrows["seed_b"]) if counts is not None else None
        overall = allrows["mean_kl"].to_numpy(float)
        est_all = float(overall.mean())
        ok = n_seeds >= MIN_SEEDS and w is not None
        if ok:
            wsum = w.sum(axis=1)
            valid = wsum > 0
            rep_all = (w[valid] @ overall) / wsum[valid]
            lo, hi = _percentiles(rep_all, level)
        else:
            lo = hi = np.nan
        rows.append({**dict(zip(keys, key)), "family": "all", "category": "all", "mean_kl": est_all,
                     "boot_low": float(lo), "boot_high": float(hi), "sigma": np.nan, "sigma_low": np.nan,
                     "sigma_high": np.nan, "n_seeds": n_seeds})
        cats = g[g["family"] != "all"]
        if cats.empty:
            continue
        # comparisons x categories matrix of mean_kl (a category absent from a comparison: NaN, left out)
        wide = cats.pivot_table(index="comparison_id", columns=["family", "category"], values="mean_kl",
                                aggfunc="first").reindex(comps)
        values = wide.to_numpy(float)
        present = np.isfinite(values)
        est = np.nanmean(values, axis=0) / est_all if est_all > 0 else np.full(values.shape[1], np.nan)
        if ok:
            ww = w[valid]
            num = ww @ np.where(present, values, 0.0)
            den = ww @ present.astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                rep_c = num / den
                rep_sigma = rep_c / rep_all[:, None]
            c_lo, c_hi = _percentiles(rep_c, level)
            s_lo, s_hi = _percentiles(rep_sigma, level)
        else:
            c_lo = c_hi = s_lo = s_hi = np.full(values.shape[1], np.nan)
        mean_c = np.nanmean(values, axis=0)
        for j, (family, category) in enumerate(wide.columns):
            rows.append({**dict(zip(keys, key)), "family": family, "category": category,
                         "mean_kl": float(mean_c[j]), "boot_low": float(c_lo[j]), "boot_high": float(c_hi[j]),
                         "sigma": float(est[j]), "sigma_low": float(s_lo[j]), "sigma_high": float(s_hi[j]),
                         "n_seeds": n_seeds})
    out = pd.DataFrame(rows, columns=cols)
    out["sigma_excludes_1"] = (out["sigma_low"] > 1) | (out["sigma_high"] < 1)
    return out


def _design_for(moments: pd.DataFrame, size_order: Sequence[str] | None):
    """Formula design shared by every comparison: indicator rows per (size, POS(t), POS(t-1)) group."""
    df = _prepare_moments(moments)
    formula, _references, _notes, varies = _moments_design(df, size_order)
    keys = ["size", "pos_t", "pos_prev"]
    combos = df[keys].drop_duplicates().reset_index(drop=True)
    D_all, d_names = _design(combos.assign(mean_kl=0.0, n=1.0), formula)
    row = pd.Series(np.arange(len(combos)), index=pd.MultiIndex.from_frame(combos))
    return df, D_all, d_names, row, varies


def regression_intervals(moments: pd.DataFrame, size_order: Sequence[str] | None = None, by: str = "step",
                         replicates: int = DEFAULT_REPLICATES, level: float = 0.95,
                         rng_seed: int = 0) -> pd.DataFrame:
    """Bootstrap percentile intervals of every regression coefficient per step.

    ``moments``: the regression's sufficient statistics per (comparison, size, POS(t), POS(t-1)) with columns
    comparison_id, seed_a, seed_b, ``by``, size, pos_t, pos_prev and MOMENT_COLUMNS. Per comparison p the
    normal equations' pieces X'X_p and X'y_p are built once; a replicate's X'X and X'y are the weighted sums
    over comparisons, so B replicates cost B small solves. Returns step, term, boot_low, boot_high, n_seeds
    (terms named as in RegressionFit.coefficients). Steps with fewer than MIN_SEEDS seeds are left out.
    """
    cols = [by, "term", "boot_low", "boot_high", "n_seeds"]
    if moments.empty:
        return pd.DataFrame(columns=cols)
    df, D_all, d_names, row, varies = _design_for(moments, size_order)
    seeds = sorted(set(df["seed_a"].astype(int)) | set(df["seed_b"].astype(int)))
    if len(seeds) < MIN_SEEDS:
        return pd.DataFrame(columns=cols)
    counts = seed_counts(seeds, replicates, rng_seed)
    q = len(d_names)
    names = [d_names[0], "log_frequency", *d_names[1:]] if varies else list(d_names)
    order = [0, q] + list(range(1, q)) if varies else list(range(q))
    k = len(names)
    terms = term_names(names)
    df = df.assign(_row=row.loc[pd.MultiIndex.from_frame(df[["size", "pos_t", "pos_prev"]])].to_numpy())
    out = []
    for value, g in df.groupby(by, sort=True):
        comps = g.drop_duplicates("comparison_id")[["comparison_id", "seed_a", "seed_b"]]
        n_seeds = len(set(comps["seed_a"]) | set(comps["seed_b"]))
        if n_seeds < MIN_SEEDS:
            continue
        index = {cid: i for i, cid in enumerate(comps["comparison_id"])}
        xtx = np.zeros((len(comps), k, k))
        xty = np.zeros((len(comps), k))
        for cid, gc in g.groupby("comparison_id", sort=False):
            i = index[cid]
            D = D_all[gc["_row"].to_numpy()]
            n = gc["n"].to_numpy()
            xtx_d = D.T @ (D * n[:, None])
            xty_d = D.T @ gc["sum_kl"].to_numpy()
            if varies:
                cross = D.T @ gc["sum_lf"].to_numpy()
                full = np.zeros((q + 1, q + 1))
                full[:q, :q] = xtx_d
                full[:q, q] = cross
                full[q, :q] = cross
                full[q, q] = gc["sum_lf2"].sum()
                xtx[i] = full[np.ix_(order, order)]
                xty[i] = np.append(xty_d, gc["sum_lf_kl"].sum())[order]
            else:
                xtx[i], xty[i] = xtx_d, xty_d
        w = comparison_weights(counts, seeds, comps["seed_a"], comps["seed_b"])
        w = w[w.sum(axis=1) > 0]
        rep_xtx = np.einsum("bp,pij->bij", w, xtx)
        rep_xty = w @ xty
        try:
            est = np.linalg.solve(rep_xtx, rep_xty[..., None])[..., 0]
        except np.linalg.LinAlgError:
            # a level without rows in this step (or a draw): pinv, as the point fit does
            est = np.einsum("bij,bj->bi", np.linalg.pinv(rep_xtx, hermitian=True), rep_xty)
        lo, hi = _percentiles(est, level)
        out.extend({by: value, "term": t, "boot_low": float(lo[j]), "boot_high": float(hi[j]),
                    "n_seeds": n_seeds} for j, t in enumerate(terms))
    return pd.DataFrame(out, columns=cols)


__all__ = ["DEFAULT_REPLICATES", "MIN_SEEDS", "MOMENT_COLUMNS", "comparison_weights", "expected_kl_intervals",
           "regression_intervals", "seed_counts"]

"""Earlier divergence and later stability: per category, the relative divergence between seeds in the divergence
phase against the relative change within runs late in training, and their rank correlation across categories,
each with a leave-one-seed-out jackknife-t interval over seeds (analysis.intervals.jackknife_over_seeds).

The phases and the two measures are those of the divergence_stability view (sql/views/divergence_stability.sql):

    early_sigma(c)  geometric mean over the divergence phase's steps t of E_pairs[KL | c](t) / E_pairs[KL](t)
    late_sigma(c)   geometric mean over the late intervals t -> t_next of E_runs[KL | c](t) / E_runs[KL](t)

computed here from the per-comparison means (comparison_kl) so that each seed can be left out: without seed s,
the seed pairs that involve s and the run of seed s are dropped and both measures recomputed. The correlation is
Spearman's rho across the categories that have both measures; it is jackknifed on Fisher's z = atanh(rho) (its
sampling distribution is closer to normal there) and the interval mapped back with tanh, so it stays in (-1, 1).
The measures themselves are jackknifed on the log scale (ratios, as sigma in analysis.intervals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from convdiv.analysis.findings import MIN_CORRELATION_CATEGORIES
from convdiv.analysis.intervals import MIN_SEEDS_PAIRS, jackknife_over_seeds

PHASES = ("early", "late")


def phase_rows(pairs: pd.DataFrame, phases: pd.DataFrame) -> pd.DataFrame:
    """The comparisons of each size's two phases: seed pairs at steps divergence_start_step..divergence_peak_step
    ('early'), consecutive steps from divergence_peak_step on ('late'); ``phases``: one row per size with those
    steps (the view's columns). Adds column phase."""
    p = pairs.merge(phases[["size", "divergence_start_step", "divergence_peak_step"]].drop_duplicates(), on="size")
    early = (p["kind"] == "seed_pair") & p["step"].between(p["divergence_start_step"], p["divergence_peak_step"])
    late = (p["kind"] == "consecutive_step") & (p["step"] >= p["divergence_peak_step"])
    out = p[early | late].assign(phase=np.where(early[early | late], "early", "late"))
    return out.drop(columns=["divergence_start_step", "divergence_peak_step"])


def phase_sigmas(rows: pd.DataFrame) -> pd.DataFrame:
    """Per size, family, category and phase: the geometric mean over the phase's steps of sigma = mean over the
    comparisons of KL | c / mean over the same comparisons of KL (steps with sigma <= 0 left out, as the view)."""
    keys = ["phase", "size", "step"]
    means = rows.groupby([*keys, "family", "category"], sort=False)["mean_kl"].mean().reset_index()
    overall = means[means["family"] == "all"][[*keys, "mean_kl"]].rename(columns={"mean_kl": "_all"})
    cat = means[means["family"] != "all"].merge(overall, on=keys)
    cat = cat[cat["_all"] > 0].assign(sigma=lambda d: d["mean_kl"] / d["_all"])
    cat = cat[cat["sigma"] > 0]
    cat["log_sigma"] = np.log(cat["sigma"])
    return cat.groupby(["size", "family", "category", "phase"], sort=False)["log_sigma"].mean().reset_index()


def _correlations(logs: pd.DataFrame) -> pd.DataFrame:
    """Per size and family: Spearman's rho of early and late log sigma across the categories with both (NaN from
    fewer than MIN_CORRELATION_CATEGORIES categories, or when either measure is constant: findings.stability_account
    says why). Spearman's rho is Pearson's r of the ranks (average ranks for ties), computed for every group at once.
    """
    wide = logs.pivot_table(index=["size", "family", "category"], columns="phase", values="log_sigma")
    wide = wide.reindex(columns=list(PHASES)).dropna().reset_index()
    groups = ["size", "family"]
    by = wide.groupby(groups, sort=False)
    ranks = by[list(PHASES)].rank()
    centred = ranks - ranks.groupby([wide["size"], wide["family"]], sort=False).transform("mean")
    terms = pd.DataFrame(
        {
            "size": wide["size"],
            "family": wide["family"],
            "xy": centred["early"] * centred["late"],
            "xx": centred["early"] ** 2,
            "yy": centred["late"] ** 2,
        }
    )
    sums = terms.groupby(groups, sort=False).agg(
        n_categories=("xy", "size"), xy=("xy", "sum"), xx=("xx", "sum"), yy=("yy", "sum")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rho: pd.Series = sums["xy"] / np.sqrt((sums["xx"] * sums["yy"]).astype(float))
    ok = (sums["n_categories"] >= MIN_CORRELATION_CATEGORIES) & (sums["xx"] > 0) & (sums["yy"] > 0)
    out = sums.assign(rho=rho.where(ok)).reset_index()
    return out[["size", "family", "n_categories", "rho"]]


def _seeds(rows: pd.DataFrame) -> list:
    return sorted(set(rows["seed_a"]) | set(rows["seed_b"]))


def divergence_stability(pairs: pd.DataFrame, phases: pd.DataFrame, categories: pd.DataFrame | None = None):
    """The measures per category and the correlation per size and family, with jackknife-t intervals over seeds.

    ``pairs``: per comparison and category (kind, size, step, comparison_id, seed_a, seed_b, family, category,
    mean_kl), family 'all' included; ``phases``: the view's phase steps per size; ``categories``: (size, family,
    category) to keep (all when None). Returns (measures, correlations): measures per size, family, category with
    early_sigma, early_low, early_high, late_sigma, late_low, late_high, n_seeds; correlations per size and family
    with n_categories, rho, rho_low, rho_high, n_seeds. Fewer than MIN_SEEDS_PAIRS seeds: NaN intervals.
    """
    if categories is not None:  # only the families asked for (and 'all', the denominator)
        pairs = pairs[pairs["family"].isin({"all", *categories["family"]})]
    rows = phase_rows(pairs, phases)
    if categories is not None:
        keep = pd.concat(
            [
                categories[["size", "family", "category"]],
                rows[rows["family"] == "all"][["size", "family", "category"]].drop_duplicates(),
            ]
        )
        rows = rows.merge(keep.drop_duplicates(), on=["size", "family", "category"])
    logs = phase_sigmas(rows)
    corr = _correlations(logs)
    seeds = _seeds(rows)
    loo_logs, loo_z = {}, {}
    for s in seeds:
        without = rows[(rows["seed_a"] != s) & (rows["seed_b"] != s)]
        lg = phase_sigmas(without)
        loo_logs[s] = lg.set_index(["size", "family", "category", "phase"])["log_sigma"]
        loo_z[s] = np.arctanh(_correlations(lg).set_index(["size", "family"])["rho"].clip(-0.999999, 0.999999))
    measures = _measure_intervals(logs, loo_logs, len(seeds))
    correlations = _rho_intervals(corr, loo_z, len(seeds))
    return measures, correlations


def _jackknife(full: pd.Series, loo: dict, n_seeds: int) -> pd.DataFrame:
    """jackknife_over_seeds on a Series indexed by keys (NaN intervals below MIN_SEEDS_PAIRS seeds)."""
    if n_seeds < MIN_SEEDS_PAIRS or full.empty:
        return pd.DataFrame({"estimate": full, "ci_low": np.nan, "ci_high": np.nan}, index=full.index)
    est = pd.DataFrame({s: v.reindex(full.index) for s, v in loo.items()}).T
    est.columns = pd.RangeIndex(len(full))
    out = jackknife_over_seeds(est, pd.Series(full.to_numpy(), index=range(len(full))))
    out.index = full.index
    return out


def _measure_intervals(logs: pd.DataFrame, loo: dict, n_seeds: int) -> pd.DataFrame:
    keys = ["size", "family", "category", "phase"]
    full = logs.set_index(keys)["log_sigma"]
    jk = _jackknife(full, loo, n_seeds)
    out = pd.DataFrame(
        {"sigma": np.exp(jk["estimate"]), "low": np.exp(jk["ci_low"]), "high": np.exp(jk["ci_high"])}
    ).reset_index()
    wide = out.pivot_table(index=["size", "family", "category"], columns="phase", values=["sigma", "low", "high"])
    wide.columns = pd.Index([f"{col[1]}_{col[0]}" for col in wide.columns])
    wide = wide.reset_index()
    for phase in PHASES:
        for what in ("sigma", "low", "high"):
            if f"{phase}_{what}" not in wide:
                wide[f"{phase}_{what}"] = np.nan
    wide["n_seeds"] = n_seeds
    return wide[
        ["size", "family", "category", *(f"{p}_{w}" for p in PHASES for w in ("sigma", "low", "high")), "n_seeds"]
    ]


def _rho_intervals(corr: pd.DataFrame, loo_z: dict, n_seeds: int) -> pd.DataFrame:
    keys = ["size", "family"]
    full = np.arctanh(corr.set_index(keys)["rho"].clip(-0.999999, 0.999999))
    jk = _jackknife(full, loo_z, n_seeds)
    out = corr.set_index(keys)
    # every leave-one-out rho equal (a perfect rank correlation each time): a zero-width interval at rho itself
    exact = (jk.get("se", pd.Series(np.nan, index=jk.index)) == 0).to_numpy()
    out["rho_low"] = np.where(exact, out["rho"], np.tanh(jk["ci_low"]))
    out["rho_high"] = np.where(exact, out["rho"], np.tanh(jk["ci_high"]))
    out["n_seeds"] = n_seeds
    return out.reset_index()

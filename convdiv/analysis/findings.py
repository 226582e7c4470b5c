"""The report's findings as rules: each function takes the numbers a figure shows and returns the sentence they
support, with the measured values, or None when the data cannot say (nothing is claimed by default).

Every threshold is a named constant here, with its reason. The functions are pure (DataFrames and mappings in,
text out); the report's sections call them on the rows they plot, and tests/test_analysis_findings.py checks each
rule on synthetic numbers where it holds and where it does not. The phases have their own rule, in SQL
(sql/views/phase_boundaries.sql), narrated by analysis.phases.phase_account.

Classifying a relative divergence sigma = E[KL | category] / E[KL] (analysis.intervals): *more* than average when
its 95% interval over seeds lies above 1 and sigma >= MIN_SIGMA_RATIO, *less* when it lies below 1 and sigma <=
1 / MIN_SIGMA_RATIO, otherwise *not distinguishable from average* (the interval includes 1, or the effect is
smaller). A category's sigma is paired with the average over the same comparisons, so this is the comparison the
sentences make ("continuations diverge more than average" rather than two overlapping bands).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from convdiv.analysis.intervals import MIN_SIGMA_RATIO

# Learnability: a run has *settled* when the change between its last two checkpoints is at most this fraction of
# its largest change (a tenth: one order of magnitude below the peak; smaller changes read as "still moving").
SETTLED_FRACTION = 0.1
# "Low CE difference is a necessary condition for low KL" holds when at least this share of the low-KL points
# has a small |dH| (the share is the quantile used for "small", 0.5, if the two are unrelated).
NECESSARY_SHARE = 0.9
# The statement is *degenerate* when at least this share of its low-KL points lies in the uniform phase, where
# every model predicts nearly uniformly and KL and dH are both small for that reason alone.
DEGENERATE_SHARE = 0.9
# The study's reported alpha x 100 (%) of the CE fits, from the presentation's slides as quoted in issue 20: DT as
# the predicted token's tag, NNP as the context token's tag.
STUDY_ALPHA_PCT = {("pos_t", "DT"): -2.05, ("pos_prev", "NNP"): 394.09}


def sigma_class(sigma: float, low: float, high: float, min_ratio: float = MIN_SIGMA_RATIO) -> str:
    """'more', 'less' or 'average' (see the module docstring); 'unknown' without an interval."""
    if not all(np.isfinite([sigma, low, high])):
        return "unknown"
    large = abs(math.log(sigma)) >= math.log(min_ratio) if sigma > 0 else False
    if low > 1 and large:
        return "more"
    if high < 1 and large:
        return "less"
    return "average"


def _steps(steps) -> str:
    steps = [int(s) for s in steps]
    return ", ".join(str(s) for s in steps) if len(steps) <= 6 else f"{steps[0]} to {steps[-1]} ({len(steps)} steps)"


def _interval(row) -> str:
    return f"{row['sigma']:.2f} ({row['sigma_low']:.2f} to {row['sigma_high']:.2f})"


def learnability_account(curve: pd.DataFrame, settled_fraction: float = SETTLED_FRACTION) -> str | None:
    """One size's consecutive-step E[KL] (columns step, step_b, mean_kl): where the runs change most, how the
    first and last intervals compare with that peak, and whether they have settled (last <= settled_fraction x
    peak)."""
    c = curve.dropna(subset=["mean_kl"]).sort_values("step")
    if len(c) < 2 or not (c["mean_kl"] > 0).any():
        return None
    peak = c.iloc[int(np.argmax(c["mean_kl"].to_numpy(float)))]
    first, last = c.iloc[0], c.iloc[-1]
    p = float(peak["mean_kl"])

    def interval(row) -> str:
        return f"step {int(row['step'])} to {int(row['step_b'])}"

    text = f"the runs change most from {interval(peak)} (E[KL] {p:.3g} nats)"
    if int(first["step"]) != int(peak["step"]):
        text += f"; from {interval(first)} the change is {first['mean_kl']:.3g} ({first['mean_kl'] / p:.1%} of that)"
    if int(last["step"]) == int(peak["step"]):
        return text + ": the change is largest at the last ingested interval, so the runs have not settled"
    text += f"; from {interval(last)} it is {last['mean_kl']:.3g} ({last['mean_kl'] / p:.1%})"
    if last["mean_kl"] <= settled_fraction * p:
        return text + f": settled (rule: the last change is at most {settled_fraction:.0%} of the largest)"
    return text + f": not settled (rule: settled when the last change is at most {settled_fraction:.0%} of the largest)"


def sigma_account(rows: pd.DataFrame, label: str) -> str | None:
    """How one category's relative divergence compares with the average over its steps (columns step, sigma,
    sigma_low, sigma_high): at how many steps sigma is above, below or not distinguishable from 1 (sigma_class),
    and its value at the last step. ``label`` names the category ("tokens that continue a word")."""
    r = rows.dropna(subset=["sigma"]).sort_values("step")
    if r.empty:
        return None
    r = r.assign(_class=[sigma_class(s, lo, hi) for s, lo, hi in zip(r["sigma"], r["sigma_low"], r["sigma_high"])])
    known = r[r["_class"] != "unknown"]
    last = r.iloc[-1]
    if known.empty:
        return f"{label}: sigma = {last['sigma']:.2f} at step {int(last['step'])}, no interval (too few seeds)"
    n = len(known)
    parts = []
    for cls, words in (("more", "diverge more than average"), ("less", "diverge less than average")):
        at = known[known["_class"] == cls]["step"]
        if len(at):
            parts.append(f"{words} at {len(at)} of {n} steps ({_steps(at)})")
    rest = int((known["_class"] == "average").sum())
    if rest:
        parts.append(f"not distinguishable from average at {rest} of {n} steps")
    tail = f"sigma = {_interval(last)}" if last["_class"] != "unknown" else f"sigma = {last['sigma']:.2f} (no interval)"
    return f"{label}: " + "; ".join(parts) + f"; at the last step, {int(last['step'])}, {tail}"


def frequency_account(last: pd.DataFrame) -> str | None:
    """E[KL] across frequency bins at one step (columns category, category_order, mean_kl, sigma, sigma_low,
    sigma_high; bins ordered rare to frequent): lowest and highest bin, whether E[KL] falls with frequency across
    every bin (strictly monotone), and how the rarest and most frequent bins compare with the average."""
    b = last.dropna(subset=["mean_kl"]).sort_values("category_order")
    if len(b) < 2:
        return None
    diffs = np.diff(b["mean_kl"].to_numpy(float))
    if (diffs < 0).all():
        shape = "falls with frequency across every bin"
    elif (diffs > 0).all():
        shape = "rises with frequency across every bin"
    else:
        shape = "is not monotone in frequency"
    kl = b["mean_kl"].to_numpy(float)
    low, high = b.iloc[int(np.argmin(kl))], b.iloc[int(np.argmax(kl))]
    text = (
        f"E[KL] {shape}: lowest in {low['category']} ({low['mean_kl']:.3g} nats), highest in {high['category']} "
        f"({high['mean_kl']:.3g})"
    )
    ends = []
    for row, name in ((b.iloc[0], "rarest"), (b.iloc[-1], "most frequent")):
        cls = sigma_class(row["sigma"], row["sigma_low"], row["sigma_high"])
        if cls in ("more", "less"):
            ends.append(f"the {name} bin {row['category']} diverges {cls} than average, sigma = {_interval(row)}")
        elif cls == "average":
            ends.append(f"the {name} bin {row['category']} is not distinguishable from average ({_interval(row)})")
    return text + ("; " + "; ".join(ends) if ends else "")


def reference_account(ref: pd.DataFrame, bounds: Mapping, seed_pairs: bool = True) -> str | None:
    """One size's reference curves (columns step, mean_kl_uniform, mean_kl_unigram) and its phase boundaries: how
    far KL to uniform moves, where KL to the unigram is lowest after the uniform phase and how that step relates to
    the convergence minimum of E[KL] across seeds (the study places them together). ``seed_pairs`` False (a
    single-seed suite): no E[KL] across seeds exists, and the sentence says what the comparison needs."""
    r = ref.dropna(subset=["mean_kl_uniform"]).sort_values("step")
    if r.empty:
        return None
    first, last = r.iloc[0], r.iloc[-1]
    text = (
        f"KL to uniform is {first['mean_kl_uniform']:.3g} nats at step {int(first['step'])} and "
        f"{last['mean_kl_uniform']:.3g} at step {int(last['step'])}"
    )
    closest, c_min = bounds.get("unigram_closest_step"), bounds.get("convergence_min_step")
    if closest is None or pd.isna(closest):
        return text
    closest = int(closest)
    at = r[r["step"] == closest]
    value = f" ({at['mean_kl_unigram'].iloc[0]:.3g} nats)" if len(at) else ""
    text += f"; after the uniform phase KL to the unigram is lowest at step {closest}{value}"
    if not seed_pairs:
        return text + " (comparing it with the convergence minimum of E[KL] across seeds needs at least 2 seeds)"
    if c_min is None or pd.isna(c_min):
        return text + ", and E[KL] across seeds has no convergence minimum to compare it with"
    c_min = int(c_min)
    if c_min == closest:
        return text + ", the step where E[KL] across seeds reaches its convergence minimum"
    steps = list(r["step"].astype(int))
    apart = abs(steps.index(c_min) - steps.index(closest)) if c_min in steps and closest in steps else None
    gap = f", {apart} checkpoint(s) apart" if apart is not None else ""
    return text + f", while E[KL] across seeds reaches its convergence minimum at step {c_min}{gap}"


def necessity_account(
    pooled: Mapping | pd.Series,
    low_kl_steps: pd.Series,
    uniform_end: int | None,
    necessary_share: float = NECESSARY_SHARE,
    degenerate_share: float = DEGENERATE_SHARE,
) -> str:
    """The presentation's "a low CE difference is a necessary condition for low KL", for one size.

    ``pooled``: the size's row of analysis.fits.necessary_condition (thresholds and shares); ``low_kl_steps``: the
    step of every low-KL point; ``uniform_end``: the step where the uniform phase ends (phase_boundaries). The
    statement is *degenerate* when at least ``degenerate_share`` of the low-KL points lie before the end of the
    uniform phase, where both quantities are small because every model is near uniform.
    """
    share_n = float(pooled["share_low_kl_with_small_dh"])
    share_s = float(pooled["share_small_dh_with_low_kl"])
    text = (
        f"of the (pair, category) points with low KL (KL_c <= {pooled['kl_threshold']:.3g} nats, the lower "
        f"quartile), {share_n:.0%} have a small |dH| (<= {pooled['dh_threshold']:.3g} nats, the median; 50% if "
        f"unrelated), and {share_s:.0%} of the small-|dH| points have low KL"
    )
    steps = low_kl_steps.dropna().astype(int)
    if uniform_end is not None and len(steps):
        early = int((steps < uniform_end).sum())
        if early >= degenerate_share * len(steps):
            return (
                text + f": degenerate on this data, {early} of the {len(steps)} low-KL points lie before the "
                f"uniform phase ends (step {uniform_end}; steps {int(steps.min())}-{int(steps.max())} hold them "
                "all), where KL and dH are both small because every model is near uniform"
            )
    if share_n >= necessary_share:
        verdict = "necessary" + (" but not sufficient" if share_s < necessary_share else "")
        return text + f": a small change in cross-entropy is {verdict} for low KL here (rule: >= {necessary_share:.0%})"
    return text + f": not necessary on this data (rule: >= {necessary_share:.0%} of low-KL points)"


def study_alpha_account(fit: Mapping | pd.Series, study_pct: float) -> str:
    """Our alpha for a category (alpha, alpha_low, alpha_high, r2, n of analysis.fits) against the study's
    reported alpha x 100: the sign, whether the study's value lies in our interval, and our R^2."""
    a, lo, hi = 100 * float(fit["alpha"]), 100 * float(fit["alpha_low"]), 100 * float(fit["alpha_high"])
    if not np.isfinite(a):
        return f"no fit here; the study reports {study_pct:.2f}%"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        seeds = fit.get("n_seeds")
        why = f"{int(seeds)} seed(s): too few" if seeds is not None and np.isfinite(float(seeds)) else "too few seeds"
        ours = f"alpha = {a:.2f}% (no interval, {why}; R^2 {float(fit['r2']):.2f}, n = {int(fit['n'])})"
        return f"{ours}; the study reports {study_pct:.2f}%: nothing claimed without an interval"
    ours = f"alpha = {a:.2f}% ({lo:.2f} to {hi:.2f}%, R^2 {float(fit['r2']):.2f}, n = {int(fit['n'])})"
    inside = lo <= study_pct <= hi
    sign = "the same sign" if np.sign(a) == np.sign(study_pct) else "the opposite sign"
    where = "inside" if inside else "outside"
    return f"{ours}; the study reports {study_pct:.2f}%: {sign}, {where} our interval"


# "Earlier divergence in training correlates to greater stability later on" (the presentation): across categories,
# the rank correlation of the seed-pair sigma in the divergence phase with the consecutive-step sigma late
# (analysis.stability). It *holds* when the 95% interval over seeds of Spearman's rho lies below 0 and rho <=
# -MIN_RANK_CORRELATION (a weak rank correlation, 0.3, at least: a narrower interval around -0.1 is precise, not a
# relation); the *opposite* when the interval lies above 0 and rho >= MIN_RANK_CORRELATION; otherwise the data
# do not show it. Fewer than MIN_CORRELATION_CATEGORIES categories: no statement (a rank correlation of 3 or 4
# points takes only a handful of values).
MIN_RANK_CORRELATION = 0.3
MIN_CORRELATION_CATEGORIES = 5


def stability_class(rho: float, low: float, high: float, n: int) -> str:
    """'holds', 'opposite', 'not shown', 'no interval' or 'too few' (see above)."""
    if n < MIN_CORRELATION_CATEGORIES or not np.isfinite(rho):
        return "too few"
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    if high < 0 and rho <= -MIN_RANK_CORRELATION:
        return "holds"
    if low > 0 and rho >= MIN_RANK_CORRELATION:
        return "opposite"
    return "not shown"


def stability_account(row: Mapping, label: str) -> str:
    """One size and family's correlation (n_categories, rho, rho_low, rho_high, n_seeds of analysis.stability):
    whether "categories that diverge more between seeds in the divergence phase change less later" holds."""
    n, rho = int(row["n_categories"]), float(row["rho"])
    low, high = float(row["rho_low"]), float(row["rho_high"])
    cls = stability_class(rho, low, high, n)
    if cls == "too few":
        return (
            f"{label}: {n} categories with both measures, too few for a rank correlation (rule: at least "
            f"{MIN_CORRELATION_CATEGORIES})"
        )
    value = f"Spearman rho = {rho:.2f}"
    if cls == "no interval":
        return f"{label}: {value} over {n} categories, no interval ({int(row['n_seeds'])} seeds): nothing claimed"
    value += f" (95% interval over {int(row['n_seeds'])} seeds {low:.2f} to {high:.2f}, n = {n} categories)"
    rule = f"rule: the interval excludes 0 and |rho| >= {MIN_RANK_CORRELATION:g}"
    if cls == "holds":
        return (
            f"{label}: categories that diverge more between seeds in the divergence phase change less within runs "
            f"later, {value}: earlier divergence goes with greater stability later ({rule})"
        )
    if cls == "opposite":
        return (
            f"{label}: the opposite of the slide: categories that diverge more between seeds in the divergence "
            f"phase also change more later, {value} ({rule})"
        )
    return f"{label}: {value}: no relation shown on this data ({rule})"

"""Intervals over seeds in the report's frames, and the caption every figure carries: n seeds, n comparisons, n
positions and the interval's kind, counted from the plotted rows.

The views' own ci_low / ci_high (expected_kl, conditional_kl) are t intervals over comparisons as if they were
independent, which seed pairs are not (pairs sharing a seed are correlated); the report replaces them with the
leave-one-seed-out jackknife-t of analysis.intervals, and draws the percentile bootstrap over seeds only from
MIN_BOOTSTRAP_SEEDS seeds on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from convdiv.analysis.intervals import (
    INTERVAL_KIND,
    MARK_WORDS,
    MIN_BOOTSTRAP_SEEDS,
    MIN_SEEDS_PAIRS,
    MIN_SEEDS_RUNS,
    sigma_marked,
)
from convdiv.report.data import ReportData

NAIVE_COLUMNS = ("se_kl", "ci_low", "ci_high")  # the views' t over comparisons; sd_kl (descriptive) stays
COMPARISON_NOUN = {
    "seed_pair": "seed pairs",
    "consecutive_step": "consecutive-step comparisons (one per seed)",
    "cross_size": "cross-size comparisons",
}
BAND = f"band: {INTERVAL_KIND}"
BOOTSTRAP_LINES = (
    f"dotted: 95% percentile bootstrap over seeds, drawn only with at least {MIN_BOOTSTRAP_SEEDS} seeds (below that "
    "it covers far less than 95%)"
)
MARK_RULE = f"rings: that interval excludes 1 and {MARK_WORDS}"
# Interval columns a plotted frame may carry: a caption that names the interval over seeds says "no interval"
# instead when none of them holds a number (too few seeds: analysis.intervals leaves them NaN).
INTERVAL_COLUMNS = ("ci_low", "ci_high", "sigma_low", "sigma_high")


def with_intervals(
    data: ReportData, df: pd.DataFrame, kind: str, families: tuple[str, ...] = ("all",), on_category: bool = False
) -> pd.DataFrame:
    """``df`` (a view's rows of one kind) with the view's naive interval replaced by the jackknife-t over seeds:
    n_seeds, se_log, ci_low, ci_high and scale, matched on size and step (and family and category)."""
    keys = ["size", "step"] + (["family", "category"] if on_category else [])
    iv = data.intervals(kind, families)
    cols = [*keys, "n_seeds", "se_log", "ci_low", "ci_high", "scale"]
    iv = iv[cols] if on_category else iv[iv["family"] == "all"][cols]
    out = df.drop(columns=[c for c in (*NAIVE_COLUMNS, "n_seeds") if c in df.columns])
    return out.merge(iv, on=keys, how="left")


def with_bootstrap(data: ReportData, df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``df`` with boot_low / boot_high of E[KL] where the group has at least MIN_BOOTSTRAP_SEEDS seeds (else NaN)."""
    boot = data.seed_bootstrap
    boot = boot[(boot["kind"] == kind) & (boot["family"] == "all")][["size", "step", "boot_low", "boot_high"]]
    return df.merge(boot, on=["size", "step"], how="left")


def seeds_needed(kind: str | None) -> str:
    """'at least 3 seeds (for seed pairs)': what an interval over seeds of this comparison kind needs."""
    if kind == "seed_pair":
        return f"at least {MIN_SEEDS_PAIRS} seeds for seed pairs"
    return f"at least {MIN_SEEDS_RUNS} seeds for comparisons within runs"


def bootstrap_note(data: ReportData) -> str | None:
    """Why no bootstrap lines are drawn, or None when some are."""
    if data.max_seeds >= MIN_BOOTSTRAP_SEEDS:
        return None
    if data.max_seeds < MIN_SEEDS_RUNS:
        return (
            f"no intervals over seeds: this suite has {_count(pd.Series([data.max_seeds]), 'seeds')} per size and "
            f"an interval over seeds needs {seeds_needed(None)} ({MIN_SEEDS_PAIRS} for seed pairs); the lines are "
            "the single run's values"
        )
    return (
        f"no bootstrap lines: this suite has {data.max_seeds} seeds and the percentile bootstrap over seeds is drawn "
        f"from {MIN_BOOTSTRAP_SEEDS} seeds on (at 5 seeds its 95% interval covered 0.79-0.88 in simulation; "
        "analysis.intervals); the band is the jackknife-t interval over seeds where a step has enough seeds"
    )


def _count(values: pd.Series, noun: str) -> str:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return f"? {noun}"
    lo, hi = int(v.min()), int(v.max())
    if lo == hi == 1:
        noun = SINGULAR.get(noun, noun)
    return f"{lo:,} {noun}" if lo == hi else f"{lo:,}-{hi:,} {noun}"


SINGULAR = {"seeds": "seed", "seed pairs": "seed pair"}


def has_no_interval(df: pd.DataFrame) -> bool:
    """True when the frame carries interval columns and not one of them holds a finite number."""
    cols = [c for c in INTERVAL_COLUMNS if c in df.columns]
    if not cols or df.empty:
        return False
    return not np.isfinite(df[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)).any()


def caption(
    df: pd.DataFrame,
    kind: str | None,
    interval: str,
    *,
    positions: str = "positions per comparison",
    seeds: pd.Series | None = None,
    extra: Sequence[str] = (),
) -> str:
    """'n: S seeds, P seed pairs per size and step, N positions per comparison; <interval>', from the plotted rows
    (ranges where they vary, e.g. a missing checkpoint)."""
    parts = []
    seed_counts = seeds if seeds is not None else df.get("n_seeds")
    if INTERVAL_KIND in interval and has_no_interval(df):  # too few seeds: say so rather than name a band
        interval = f"no interval: an interval over seeds needs {seeds_needed(kind)}"
        extra = [e for e in extra if e != MARK_RULE and e != BOOTSTRAP_LINES]
    if seed_counts is not None:
        parts.append(_count(seed_counts, "seeds"))
    if kind is not None and "n_comparisons" in df:
        parts.append(_count(df["n_comparisons"], COMPARISON_NOUN.get(kind, "comparisons")) + " per size and step")
    if "n_positions" in df:
        parts.append(_count(df["n_positions"], positions))
    text = "n: " + ", ".join(parts) + "; " + interval
    return "; ".join([text, *extra]) + "."


def marked(df: pd.DataFrame) -> np.ndarray:
    """Cells of a sigma frame (sigma, sigma_low, sigma_high) that the heatmaps ring (analysis.intervals)."""
    return sigma_marked(df["sigma"], df["sigma_low"], df["sigma_high"])

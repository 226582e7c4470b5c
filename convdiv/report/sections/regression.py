"""Regression: per step, OLS of KL on log frequency + POS(t) + POS(t-1) + size, with reference coding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from convdiv.analysis.bootstrap import regression_intervals
from convdiv.analysis.intervals import MIN_BOOTSTRAP_SEEDS
from convdiv.analysis.regression import MOMENT_COLUMNS, fit_moments_steps, seed_jackknife_steps, with_log10
from convdiv.report.data import KIND_LABEL, REGRESSION_BOOTSTRAP_ROWS, ReportData
from convdiv.report.figures import (
    PANEL_SPACING,
    STEP_AXIS_NOTE,
    base_layout,
    colour,
    line_with_band,
    panel_legends,
    step_axis,
    step_x,
    tidy,
)
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.uncertainty import seeds_needed
from convdiv.warehouse import names

SEED_INTERVAL_TEXT = "over seeds, leave-one-seed-out jackknife with Student's t"
KEY = "regression"
TITLE = "Regression"
GUIDE = (
    "For each step, an OLS regression over all (comparison, position) rows: KL = mu + alpha log10(frequency) + "
    "sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p] + sum_m delta_m [size = m]. Unlike the study's "
    "version, every factor has a reference level (POS tags: NN, or NOUN for a corpus tagged with Universal POS; "
    "size: the smallest), so the coefficients are "
    "identified: beta_p is the KL difference of tag p from NN at equal frequency, context tag and size, and "
    "delta_m that of size m from the smallest size. Frequency enters as log10, as in the study (the warehouse "
    "stores ln; the table gives both rows, log10_frequency = ln(10) x log_frequency, from one fit). The rows are "
    "not independent: a position appears in every pair, a pair's positions share its two runs, and pairs share "
    "seeds. So the intervals, standard errors and p-values are over seeds: the regression is refitted without "
    "each seed's comparisons (leave-one-seed-out jackknife, Student's t with seeds - 1 df), which treats the seed "
    "as the unit of replication and the corpus's positions as given, as the study does; se_ols, the textbook OLS "
    "error that takes every row as independent, is listed for comparison only. Left: alpha (the log10-frequency "
    "slope; negative = frequent tokens diverge less) with its interval; right: delta_m per size. Dotted lines, "
    f"drawn only with at least {MIN_BOOTSTRAP_SEEDS} seeds, are the percentile bootstrap over seeds. The fit uses "
    "the sufficient statistics materialised in the warehouse (X'X and X'y summed over groups of rows), which give "
    "exactly the row-level OLS estimates and R^2. The tables give each step's rows, seeds and R^2, and every "
    "coefficient for the step chosen in the menu. " + STEP_AXIS_NOTE + "."
)


def _span(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "?"
    lo, hi = int(v.min()), int(v.max())
    return f"{lo:,}" if lo == hi else f"{lo:,}-{hi:,}"


def regression_caption(summary: pd.DataFrame, kind: str, seeds: pd.Series) -> str:
    """The coefficients' caption; ``seeds``: the kind's seeds per size and step (the count where no step has an
    interval over seeds, whose rows count them otherwise)."""
    if summary["n_seeds"].isna().all():
        n = _span(seeds)
        return (
            f"n: {n} seed{'' if n == '1' else 's'}, {rows_per_fit(summary)}; no interval: an interval over seeds "
            f"needs {seeds_needed(kind)}."
        )
    return (
        f"n: {_span(summary['n_seeds'])} seeds, {_span(summary['n_comparisons'])} comparisons per step, "
        f"{rows_per_fit(summary)}; band: 95% interval {SEED_INTERVAL_TEXT}; dotted: percentile bootstrap over "
        f"seeds, only with at least {MIN_BOOTSTRAP_SEEDS} seeds."
    )


def bootstrap(data: ReportData, kind: str, order: list[str], sec: Section, n_rows: int) -> pd.DataFrame | None:
    """Bootstrap intervals over seeds of every coefficient per step (seed pairs only), or None with a note."""
    if kind != "seed_pair" or data.max_seeds < MIN_BOOTSTRAP_SEEDS:
        return None
    wanted = data.options.regression_bootstrap
    if wanted is False:
        return None
    if wanted is None and n_rows > REGRESSION_BOOTSTRAP_ROWS:
        sec.notes.append(
            f"no bootstrap intervals for the coefficients: over {n_rows:,} rows (more than "
            f"{REGRESSION_BOOTSTRAP_ROWS:,}) they read and reweight every seed pair's moments; ask with "
            "`convdiv report --regression-bootstrap`"
        )
        return None
    try:
        # per comparison, maintained at publish (agg_comparison_moments): the suite's moment rows, no fact scan
        moments = data.view(names.COMPARISON_MOMENTS, "kind = %(kind)s", kind=kind)
    except Missing as exc:
        sec.notes.append(f"no bootstrap intervals: {exc}")
        return None
    boot = regression_intervals(
        moments, size_order=order, replicates=data.options.bootstrap_replicates, min_seeds=MIN_BOOTSTRAP_SEEDS
    )
    return None if boot.empty else boot


def seed_intervals(
    data: ReportData, kind: str, frame: pd.DataFrame, fits: dict, order: list[str], sec: Section, designs: dict
) -> pd.DataFrame:
    """The coefficients' jackknife-t intervals over seeds per step (analysis.regression), with notes where none."""
    try:
        sums = data.view(
            names.COMPARISON_REGRESSION_SUMS,
            "kind = %(kind)s",
            kind=kind,
            columns=(
                "comparison_id",
                "seed_a",
                "seed_b",
                "size",
                "step",
                "factor",
                "level",
                "n",
                "sum_kl",
                "sum_lf_kl",
            ),
        )
    except Missing as exc:
        sec.notes.append(f"no intervals over seeds: {exc}")
        return pd.DataFrame(columns=["step", "term"])
    jk, why = seed_jackknife_steps(frame, sums, fits, size_order=order, designs=designs)
    for step, reason in sorted(why.items()):
        sec.notes.append(f"step {step}: no interval over seeds ({reason})")
    return jk


def seed_columns(coefficients: pd.DataFrame, jk: pd.DataFrame) -> pd.DataFrame:
    """The fit's coefficient table with se, t, p and the interval over seeds in place of the OLS ones (se_ols
    kept beside them, for comparison)."""
    out = coefficients.rename(columns={"se": "se_ols"}).drop(columns=["t", "p", "ci_low", "ci_high"])
    if jk.empty:
        return out.assign(se=np.nan, t=np.nan, p=np.nan, ci_low=np.nan, ci_high=np.nan, df=np.nan)
    return out.merge(jk[["term", "se", "t", "p", "ci_low", "ci_high", "df"]], on="term", how="left")


def rows_per_fit(summary: pd.DataFrame) -> str:
    """'each step's fit: N rows in G groups' (a range where steps differ), the count of one fit, not all steps."""
    return (
        f"each step's fit: {_span(summary['n'])} (comparison, position) rows in {_span(summary['cells'])} groups "
        f"({len(summary)} steps)"
    )


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    # Sufficient statistics per (size, step, POS pair), maintained at ingest: thousands of rows per kind.
    frame = data.view(
        names.REGRESSION_MOMENTS,
        "kind = %(kind)s",
        kind=kind,
        columns=("step", "size", "pos_t", "pos_prev", *MOMENT_COLUMNS),
    )
    basis = "sufficient statistics (X'X, X'y) per (size, POS(t), POS(t-1)) group"

    if frame.empty:
        raise Missing(f"no regression inputs for {KIND_LABEL[kind]}")
    present = set(frame["size"].unique().tolist())
    order = [s for s in data.scope.sizes if s in present]
    designs: dict = {}
    results = fit_moments_steps(frame, size_order=order, designs=designs)
    jk = seed_intervals(data, kind, frame, results, order, sec, designs)
    boot = bootstrap(data, kind, order, sec, int(frame["n"].sum()))
    for step in sorted(set(frame["step"].unique().tolist()) - set(results)):
        sec.notes.append(f"step {step}: not enough rows for the regression")
    summary, coefs, coef_tables, references = tabulate(results, jk, boot)
    sec.notes.append(
        f"{KIND_LABEL[kind]}; reference levels: "
        + ", ".join(f"{k} = {v}" for k, v in references.items())
        + f"; fitted exactly on {basis}; {rows_per_fit(summary)}"
    )
    plotted = coefs[coefs["factor"].isin(["log10_frequency", "log_frequency", "size"])]
    sec.figures.append(
        Figure(
            "regression-coefficients",
            coefficient_figure(coefs, order),
            tidy(plotted, COEFFICIENT_COLUMNS),
            caption=regression_caption(summary, kind, data.intervals(kind)["n_seeds"]),
        )
    )
    sec.tables.extend(regression_tables(summary, coef_tables))
    return sec


# the columns of the coefficient figure's CSV
COEFFICIENT_COLUMNS = [
    "step",
    "term",
    "factor",
    "level",
    "estimate",
    "se",
    "df",
    "t",
    "p",
    "ci_low",
    "ci_high",
    "se_ols",
    "boot_low",
    "boot_high",
]


def tabulate(
    results: dict, jk: pd.DataFrame, boot: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame], dict]:
    """Per step's fit: its summary row and its coefficients with the seed intervals (and the bootstrap's).

    Returns the summary (one row per step), every coefficient (with its step), the coefficient table per step
    ("step N" -> frame) and the fits' reference levels."""
    fits, coef_tables, coef_rows = [], {}, []
    references: dict = {}
    for step, fit in results.items():
        at = jk[jk["step"] == step]
        fits.append(
            {
                "step": int(step),
                "n": fit.n,
                "cells": fit.n_cells,
                "parameters": fit.n_params,
                "r2": fit.r2,
                "adj_r2": fit.adj_r2,
                "sigma": fit.sigma,
                "n_seeds": int(at["n_seeds"].iloc[0]) if len(at) else None,
                "n_comparisons": int(at["n_comparisons"].iloc[0]) if len(at) else None,
                "notes": "; ".join(fit.notes),
            }
        )
        coefs = seed_columns(fit.coefficients, at)
        if boot is not None:
            coefs = coefs.merge(boot[boot["step"] == step][["term", "boot_low", "boot_high"]], on="term", how="left")
        coefs = with_log10(coefs)
        coef_tables[f"step {step}"] = coefs.drop(columns=["factor", "level"])
        coef_rows.append(coefs.assign(step=int(step)))
        references = fit.references
    if not fits:
        raise Missing("no step had enough rows for the regression")
    return pd.DataFrame(fits), pd.concat(coef_rows, ignore_index=True), coef_tables, references


def coefficient_figure(coefs: pd.DataFrame, order: list[str]) -> go.Figure:
    """Two panels over steps: alpha (the log10-frequency slope) and delta_m per size, with their intervals."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["alpha: log10-frequency slope", f"delta_m: size effect vs {order[0] if order else 'smallest'}"],
        horizontal_spacing=PANEL_SPACING,
    )
    a = coefs[coefs["factor"] == "log10_frequency"].sort_values("step")
    panels = [(1, "alpha", a, "#333333")]
    d = coefs[coefs["factor"] == "size"]
    panels += [
        (2, f"delta {size}", d[d["level"] == size].sort_values("step"), colour(i)) for i, size in enumerate(order)
    ]
    for col, name, g, col_ in panels:
        if g.empty:
            continue
        for tr in line_with_band(step_x(g["step"]), g["estimate"], g["ci_low"], g["ci_high"], name=name, colour_=col_):
            fig.add_trace(tr, row=1, col=col)
        if "boot_low" in g and g["boot_low"].notna().any():
            for bcol in ("boot_low", "boot_high"):
                fig.add_trace(
                    go.Scatter(
                        x=step_x(g["step"]),
                        y=g[bcol],
                        mode="lines",
                        legendgroup=name,
                        showlegend=False,
                        line=dict(color=col_, dash="dot", width=1),
                        name=f"{name} bootstrap",
                        hoverinfo="skip",
                    ),
                    row=1,
                    col=col,
                )
    for tr in fig.data:
        tr.legend = "legend" if tr.xaxis in (None, "x") else "legend2"
    for j in (1, 2):
        fig.update_xaxes(**step_axis(coefs["step"]), row=1, col=j)
        fig.update_yaxes(title_text="coefficient (nats of KL)", row=1, col=j)
    fig.update_layout(
        **base_layout(
            "Per-step regression coefficients with 95% intervals", height=430, margin=dict(l=60, r=120, t=60, b=50)
        )
    )
    panel_legends(fig, 2, 2)
    return fig


def regression_tables(summary: pd.DataFrame, coef_tables: dict[str, pd.DataFrame]) -> list[Table]:
    """The per-step summary, and every coefficient of the step chosen in the menu (the last step first)."""
    last = f"step {summary['step'].iloc[-1]}"
    return [
        Table(
            "regression-summary",
            "Rows, seeds and R^2 per step",
            summary,
            caption="n: the (comparison, position) rows of that step's fit; cells: the groups of rows it was fitted "
            "from; n_seeds, n_comparisons: what the interval over seeds leaves out one seed at a time.",
        ),
        Table(
            "regression-table",
            "All coefficients for one step",
            coef_tables[last],
            choices=coef_tables,
            default_choice=last,
            caption=f"se, t, p, ci_low, ci_high: {SEED_INTERVAL_TEXT} (df = seeds - 1); se_ols: the OLS error with "
            "every row taken as independent, for comparison only.",
        ),
    ]

"""Earlier divergence and later stability: the presentation's slide, measured per POS and frequency category."""

from __future__ import annotations

import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

from convdiv.analysis.findings import MIN_CORRELATION_CATEGORIES, MIN_RANK_CORRELATION, stability_account
from convdiv.analysis.stability import divergence_stability
from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PANEL_SPACING,
    base_layout,
    category_colour,
    log_axis,
    size_dropdown,
    subplot_axes,
    tag_colour,
    with_traces,
)
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.warehouse import names

KEY = "divergence-stability"
TITLE = "Earlier divergence, later stability"
FAMILIES = {"pos_t": "POS(t)", "pos_prev": "POS(t-1)", "frequency_bin": "frequency bin"}
# A category's sigma from fewer positions per comparison is dominated by a few tokens; such categories are left
# out of the scatter and the correlation (the table says how many remain).
MIN_POSITIONS = 50
GUIDE = (
    'The presentation\'s slide "earlier divergence in training correlates to greater stability later on", '
    "measured per category (POS(t), POS(t-1), frequency bin; the divergence_stability view, docs/sql.md). Each "
    "point is one category of one size. x: how much the seeds disagree on it in the divergence phase, relative "
    "to all positions (the geometric mean over the seed-pair steps from the convergence minimum, or the end of the "
    "uniform phase, to the divergence peak of sigma = E[KL | category] / E[KL]). y: how much a run still changes "
    "on it from the divergence peak on, relative to all positions (the same geometric mean of the consecutive-step "
    "sigma); lower y = more stable. Both axes are log scales; 1 is the average of all positions. The slide's claim reads as a "
    "negative rank correlation across categories: the table gives Spearman's rho per size and family with a 95% "
    "interval over seeds (leave-one-seed-out jackknife-t on Fisher's z), and the error bars are the same interval "
    f"for each category's two measures. Categories with fewer than {MIN_POSITIONS} positions are left out. The "
    f"notes state the relation only when its interval excludes 0 and |rho| >= {MIN_RANK_CORRELATION:g}, from "
    f"{MIN_CORRELATION_CATEGORIES} categories on."
)


def _inputs(data: ReportData) -> tuple[pd.DataFrame, pd.DataFrame]:
    view = data.view(names.DIVERGENCE_STABILITY, "family = ANY(%(families)s)", families=list(FAMILIES))
    if view.empty and data.run_seeds < 2:
        raise Missing(
            "needs at least 2 seeds: the divergence phase is read off E[KL] between seeds (seed pairs), and this "
            "suite has one seed per size"
        )
    if view.empty:
        raise Missing(
            "no divergence phase: the seed-pair curve of every size lacks a divergence peak (phase_boundaries), or "
            "the suite has no seed pairs or no consecutive steps"
        )
    if view["late_sigma"].isna().all():
        peaks = view.drop_duplicates("size")
        raise Missing(
            "no late phase: the divergence peak of every size is its last ingested step with consecutive steps ("
            + ", ".join(
                f"{size}: peak {int(peak)}"
                for size, peak in peaks[["size", "divergence_peak_step"]].itertuples(index=False, name=None)
            )
            + "); ingest later checkpoints to measure stability after the peak"
        )
    view = view[view["n_positions"] >= MIN_POSITIONS]
    return view, data.comparison_means


def _scatter(rows: pd.DataFrame, sizes: list[str]) -> dict:
    fams = [f for f in FAMILIES if f in set(rows["family"])]
    fig = make_subplots(
        rows=1, cols=len(fams), subplot_titles=[FAMILIES[f] for f in fams], horizontal_spacing=PANEL_SPACING / 2
    )
    pending: list[dict] = []
    trace_sizes: list[str] = []
    shown = sizes[-1]
    for p, fam in enumerate(fams):
        for size in sizes:
            g = rows[(rows["family"] == fam) & (rows["size"] == size)].dropna(subset=["early_sigma", "late_sigma"])
            if g.empty:
                continue
            cats = list(g["category"])
            colours = [tag_colour(c) if fam != "frequency_bin" else category_colour(i) for i, c in enumerate(cats)]
            pending.append(
                dict(
                    type="scatter",
                    x=g["early_sigma"].to_numpy(float),
                    y=g["late_sigma"].to_numpy(float),
                    mode="markers+text",
                    text=cats,
                    textposition="top center",
                    textfont=dict(size=9),
                    marker=dict(size=8, color=colours),
                    error_x=_bars(g, "early"),
                    error_y=_bars(g, "late"),
                    name=f"{FAMILIES[fam]} ({size})",
                    showlegend=False,
                    visible=size == shown,
                    hovertemplate="%{text}: early sigma %{x:.3f}, late sigma %{y:.3f}<extra></extra>",
                    **subplot_axes(1, p + 1, len(fams)),
                )
            )
            trace_sizes.append(size)
        fig.update_xaxes(**log_axis("early: seed-pair sigma (divergence phase)"), row=1, col=p + 1)
        fig.update_yaxes(**log_axis("late: consecutive-step sigma"), row=1, col=p + 1)
    fig.update_layout(**base_layout("Divergence early against change late, per category", height=460))
    size_dropdown(fig, trace_sizes, sizes)
    return with_traces(fig, pending)


def _bars(g: pd.DataFrame, phase: str) -> dict:
    """Asymmetric error bars of a phase's interval (none where it is missing)."""
    v = g[f"{phase}_sigma"].to_numpy(float)
    hi = np.nan_to_num(g[f"{phase}_high"].to_numpy(float) - v, nan=0.0)
    lo = np.nan_to_num(v - g[f"{phase}_low"].to_numpy(float), nan=0.0)
    return dict(type="data", symmetric=False, array=hi, arrayminus=lo, color="#888888", thickness=1, width=2)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    view, pairs = _inputs(data)
    sizes = [s for s in data.scope.sizes if s in set(view["size"])]
    phases = view[["size", "divergence_start_step", "divergence_peak_step", "last_step"]].drop_duplicates()
    measures, corr = divergence_stability(pairs, phases, view[["size", "family", "category"]])
    rows = view.drop(columns=["early_sigma", "late_sigma"]).merge(
        measures, on=["size", "family", "category"], how="left"
    )
    rows = rows.assign(early_sigma=view["early_sigma"].to_numpy(), late_sigma=view["late_sigma"].to_numpy())
    columns = [
        "size",
        "family",
        "category",
        "n_positions",
        "divergence_start_step",
        "divergence_peak_step",
        "n_early_steps",
        "early_sigma",
        "early_low",
        "early_high",
        "n_late_steps",
        "late_sigma",
        "late_low",
        "late_high",
        "n_seeds",
    ]
    n_seeds = int(corr["n_seeds"].max()) if not corr.empty else 0
    sec.figures.append(
        Figure(
            "divergence-stability-scatter",
            _scatter(rows, sizes),
            rows[columns],
            caption=f"n: {n_seeds} seeds, categories with >= {MIN_POSITIONS} positions per comparison; error bars: "
            "95% t interval over seeds (leave-one-seed-out jackknife of the log geometric mean).",
        )
    )
    steps = phases[["size", "divergence_start_step", "divergence_peak_step", "last_step"]]
    for size, start, peak, last in steps.itertuples(index=False, name=None):
        early = f"size {size}: divergence phase steps {int(start)}-{int(peak)}"
        if view.loc[view["size"] == size, "late_sigma"].notna().any():
            sec.notes.append(
                f"{early} (seed pairs), late phase the consecutive-step intervals from step {int(peak)} to {int(last)}"
            )
        else:
            sec.notes.append(
                f"{early} (seed pairs); no late phase: no consecutive-step interval starts at or after the divergence "
                f"peak (step {int(peak)}, last step {int(last)}), so nothing is measured late"
            )
    for r in corr.itertuples():
        sec.notes.append(f"size {r.size}, " + stability_account(r._asdict(), FAMILIES.get(r.family, r.family)))
    sec.tables.append(
        Table(
            "divergence-stability-correlation",
            "Rank correlation of early divergence and late change, per size and family",
            corr.assign(family=corr["family"].map(FAMILIES))[
                ["size", "family", "n_categories", "rho", "rho_low", "rho_high", "n_seeds"]
            ],
            caption="rho < 0: categories that diverge more early change less late (are more stable); interval: 95% "
            "jackknife-t over seeds on Fisher's z.",
            float_format="{:.3f}",
        )
    )
    return sec

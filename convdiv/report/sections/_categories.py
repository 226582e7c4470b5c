"""Shared drawing of conditional convergence curves (one line per category, one size shown at a time)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from plotly.subplots import make_subplots

from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PANEL_SPACING,
    base_layout,
    colour,
    legend_ref,
    line_with_band,
    panel_legends,
    series_colour,
    size_dropdown,
    step_axis,
    step_x,
    subplot_axes,
    with_traces,
)
from convdiv.report.groupings import PTB, Groupings
from convdiv.report.model import Missing
from convdiv.warehouse import names

POS_PANELS = PTB.panels  # a corpus's own: ReportData.groupings.panels (UPOS for a --tagset upos corpus)
# The columns of a category panel figure's data (pos.py, word.py): which panel, then conditional_kl's columns.
PANEL_COLUMNS = [
    "panel",
    "family",
    "category",
    "kind",
    "size",
    "step",
    "n_comparisons",
    "n_seeds",
    "n_positions",
    "mean_kl",
    "se_log",
    "ci_low",
    "ci_high",
    "scale",
    "mean_ce",
]


def merge_groups(df: pd.DataFrame, groupings: Groupings = PTB) -> pd.DataFrame:
    """Add 'nouns' and 'verbs' as categories: position-weighted means of their tags' E[KL].

    Every comparison of a (size, step, kind) group covers the same positions, so the category mean over the
    union of tags is the n_positions-weighted mean of the tags' means (exact for mean_kl and mean_ce). Their
    intervals over seeds come from the per-comparison merge (report.groupings), like any category's.
    """
    keys = ["kind", "size", "size_rank", "step"]
    out = [df]
    for name, tags in groupings.merged.items():
        sub = df[df["category"].isin(tags)]
        if sub.empty:
            continue
        w = sub["n_positions"].astype(float)
        agg = (
            sub.assign(_w=w, _kl=sub["mean_kl"] * w, _ce=sub["mean_ce"] * w)
            .groupby(keys + ["family"], as_index=False)
            .agg(_w=("_w", "sum"), _kl=("_kl", "sum"), _ce=("_ce", "sum"), n_comparisons=("n_comparisons", "max"))
        )
        agg["category"] = name
        agg["n_positions"] = agg["_w"].astype(int)
        agg["mean_kl"] = agg["_kl"] / agg["_w"]
        agg["mean_ce"] = agg["_ce"] / agg["_w"]
        out.append(agg.drop(columns=["_w", "_kl", "_ce"]))
    return pd.concat(out, ignore_index=True)


def category_panels(
    df: pd.DataFrame,
    panels: Mapping[str, Sequence[str] | None],
    sizes: Sequence[str],
    title: str,
    *,
    value: str = "mean_kl",
    negate: bool = True,
    cols: int = 2,
    ylabel: str = "-E[KL] (nats)",
    families: dict[str, str] | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Subplots (one per panel: its categories, or all categories when None), size dropdown, CI bands.

    Every panel has its own legend and y-axis title, and its categories each their own colour. ``families``
    (panel -> family) restricts a panel to one category family. Returns the figure and the plotted rows (panel
    column added).
    """
    n = len(panels)
    rows = int(np.ceil(n / cols))
    ncols = min(cols, n)
    fig = make_subplots(
        rows=rows, cols=ncols, subplot_titles=list(panels), horizontal_spacing=PANEL_SPACING, vertical_spacing=0.14
    )
    trace_sizes: list[str] = []
    plotted = []
    sign = -1.0 if negate else 1.0
    shown = sizes[-1] if sizes else None
    pending: list[dict] = []
    for p, (panel, cats) in enumerate(panels.items()):
        r, c = p // cols + 1, p % cols + 1
        sub = df if not families or panel not in families else df[df["family"] == families[panel]]
        sub = sub if cats is None else sub[sub["category"].isin(cats)]
        order = (
            list(cats)
            if cats is not None
            else list(
                sub.sort_values(["category_order", "category"] if "category_order" in sub else ["category"])[
                    "category"
                ].drop_duplicates()
            )
        )
        groups = {key: g.sort_values("step") for key, g in sub.groupby(["category", "size"], sort=False)}
        for k, cat in enumerate([c_ for c_ in order if c_ in set(sub["category"])]):
            for size in sizes:
                g = groups.get((cat, size))
                if g is None:
                    continue
                lo = g["ci_high"] * sign if "ci_high" in g else None
                hi = g["ci_low"] * sign if "ci_low" in g else None
                if not negate:
                    lo, hi = hi, lo
                traces = line_with_band(
                    step_x(g["step"]),
                    sign * g[value],
                    lo,
                    hi,
                    name=cat,
                    colour_=series_colour(g["family"].iloc[0] if "family" in g else None, cat, k),
                    legendgroup=f"{panel}:{cat}",
                    visible=size == shown,
                    hover=f"{cat} ({size})<br>step %{{customdata}}<br>%{{y:.4g}}<extra></extra>",
                    customdata=g["step"].to_numpy(),
                    **subplot_axes(r, c, cols),
                )
                for tr in traces:
                    tr["legend"] = legend_ref(p)
                pending.extend(traces)
                trace_sizes.extend([size] * len(traces))
                plotted.append(g.assign(panel=panel))  # small frames
    all_steps = df["step"].unique() if not df.empty else [0]
    for p in range(n):
        fig.update_xaxes(**step_axis(all_steps), row=p // cols + 1, col=p % cols + 1)
        fig.update_yaxes(title_text=ylabel, row=p // cols + 1, col=p % cols + 1)
    fig.update_layout(**base_layout(title, height=330 * rows + 80, margin=dict(l=60, r=150, t=60, b=50)))
    panel_legends(fig, n, cols)
    size_dropdown(fig, trace_sizes, sizes)
    data = pd.concat(plotted, ignore_index=True) if plotted else pd.DataFrame()
    return with_traces(fig, pending), data


def size_panels(
    df: pd.DataFrame,
    sizes: Sequence[str],
    title: str,
    *,
    panel_title: str = "{category}",
    value: str = "mean_kl",
    cols: int = 3,
    ylabel: str = "-E[KL] (nats)",
) -> tuple[dict, pd.DataFrame]:
    """One panel per category (in category_order), every size overlaid in it (the size's colour, as in the
    convergence figure), each panel with its own legend and y-axis title: the paper's layout for frequency bins."""
    order = list(
        df.sort_values(["category_order", "category"] if "category_order" in df else ["category"])[
            "category"
        ].drop_duplicates()
    )
    n = max(len(order), 1)
    rows = int(np.ceil(n / cols))
    ncols = min(cols, n)
    fig = make_subplots(
        rows=rows,
        cols=ncols,
        subplot_titles=[panel_title.format(category=c) for c in order],
        horizontal_spacing=PANEL_SPACING * 0.8,
        vertical_spacing=0.16,
    )
    pending: list[dict] = []
    groups = {key: g.sort_values("step") for key, g in df.groupby(["category", "size"], sort=False)}
    plotted = []
    for p, cat in enumerate(order):
        r, c = p // cols + 1, p % cols + 1
        for i, size in enumerate(sizes):
            g = groups.get((cat, size))
            if g is None:
                continue
            lo = -g["ci_high"].astype(float) if "ci_high" in g else None
            hi = -g["ci_low"].astype(float) if "ci_low" in g else None
            traces = line_with_band(
                step_x(g["step"]),
                -g[value].astype(float),
                lo,
                hi,
                name=size,
                colour_=colour(i),
                legendgroup=f"{cat}:{size}",
                hover=f"{cat}, size {size}<br>step %{{customdata}}<br>%{{y:.4g}}<extra></extra>",
                customdata=g["step"].to_numpy(),
                **subplot_axes(r, c, cols),
            )
            for tr in traces:
                tr["legend"] = legend_ref(p)
            pending.extend(traces)
            plotted.append(g)
    all_steps = df["step"].unique() if not df.empty else [0]
    for p in range(n):
        fig.update_xaxes(**step_axis(all_steps), row=p // cols + 1, col=p % cols + 1)
        fig.update_yaxes(title_text=ylabel, row=p // cols + 1, col=p % cols + 1)
    fig.update_layout(**base_layout(title, height=300 * rows + 80, margin=dict(l=60, r=110, t=60, b=50)))
    panel_legends(fig, n, cols)
    data = pd.concat(plotted, ignore_index=True) if plotted else pd.DataFrame()
    return with_traces(fig, pending), data


def _divergence_peak(data: ReportData, size: str) -> int | None:
    try:
        pb = data.view(names.PHASE_BOUNDARIES, "kind = 'seed_pair'")
    except Missing:
        return None
    peak = pb.loc[pb["size"] == size, "divergence_peak_step"].dropna()
    return int(peak.iloc[0]) if len(peak) else None


def late_steps(data: ReportData, size: str, steps: pd.Series) -> pd.Series:
    """The steps from the size's divergence peak on (phase_boundaries, seed pairs); every step without a peak."""
    peak = _divergence_peak(data, size)
    return steps[steps >= peak] if peak is not None else steps


def late_label(data: ReportData, size: str) -> str:
    """How a note names :func:`late_steps`: from the peak on, or every step and why (no seed pairs: one seed)."""
    if _divergence_peak(data, size) is not None:
        return "from the divergence peak on"
    if "seed_pair" not in data.kinds():
        return "over every step (no divergence peak: it is read off E[KL] across seeds, which needs at least 2 seeds)"
    return "over every step (the seed-pair curve shows no divergence peak)"

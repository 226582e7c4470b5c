"""Reference distributions: KL to the uniform and to the unigram distribution, and cross-entropy, against step."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from convdiv.analysis.findings import reference_account
from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PANEL_SPACING,
    STEP_AXIS_NOTE,
    base_layout,
    colour,
    legend_ref,
    line_with_band,
    panel_legends,
    step_axis,
    step_x,
    tidy,
)
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.uncertainty import caption
from convdiv.warehouse import names

KEY = "reference"
TITLE = "Reference distributions"
GUIDE = (
    "Where each model's predictions sit relative to two fixed references, averaged over positions and seeds; the "
    "band is plus/minus one SD over seeds (the spread of the runs, not an interval). KL to uniform = log|V| - H(p) "
    "is 0 for a uniform prediction and grows as the prediction concentrates. KL to unigram measures how close the "
    "model is to predicting every token by its corpus frequency, ignoring context (0 = exactly the unigram); the "
    "star marks where it is lowest after the uniform phase (the phase_boundaries view's unigram_closest_step). The "
    "study places that step at the end of the sharp-convergence phase; the notes give, per size, the measured "
    "values and how the two steps relate here. Cross-entropy is the mean surprisal of the true next token (nats). "
    + STEP_AXIS_NOTE
    + "."
)

PANELS = (
    ("mean_kl_uniform", "sd_kl_uniform", "KL(p || uniform)"),
    ("mean_kl_unigram", "sd_kl_unigram", "KL(p || unigram)"),
    ("mean_ce", "sd_ce", "cross-entropy"),
)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    df = data.view(names.REFERENCE_KL)
    if df.empty:
        raise Missing("no checkpoint measurements for this suite and corpus: run `convdiv ingest`")
    df = df.sort_values(["size_rank", "step"])
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[p[2] for p in PANELS], horizontal_spacing=PANEL_SPACING * 0.8)
    unigram_step, uniform_end, seed_bounds = reference_boundaries(data, sec)
    closest = []
    for i, size in enumerate(sizes):
        g = df[df["size"] == size]
        add_size_curves(fig, g, size, i)
        bounds = seed_bounds.loc[size].to_dict() if size in seed_bounds.index else {}
        bounds.setdefault("unigram_closest_step", unigram_step.get(size))
        sentence = reference_account(g, bounds, seed_pairs="seed_pair" in data.kinds())
        if sentence:
            sec.notes.append(f"size {size}: {sentence}")
        at = g[g["step"] == unigram_step.get(size, -1)]
        if not at.empty:
            best = at.iloc[0]
            closest.append(
                {
                    "size": size,
                    "uniform_end_step": int(uniform_end[size]) if size in uniform_end.index else None,
                    "unigram_closest_step": int(best["step"]),
                    "kl_unigram": float(best["mean_kl_unigram"]),
                    "ce": float(best["mean_ce"]),
                }
            )
            fig.add_trace(closest_marker(best, size, i), row=1, col=2)
    finish_layout(fig, df)
    sec.figures.append(
        Figure(
            "reference-curves",
            fig,
            tidy(df, CURVE_COLUMNS),
            caption=caption(
                df,
                None,
                "band: plus/minus one SD over seeds (the spread of the runs, not an interval)"
                if df["n_seeds"].max() >= 2
                else "no band: the SD over seeds needs at least 2 seeds",
            ),
        )
    )
    if closest:
        sec.tables.append(
            Table(
                "reference-closest",
                "Where each size leaves the uniform phase and is closest to the unigram",
                pd.DataFrame(closest),
                caption="The phase boundaries read off the reference curves alone (phase_boundaries rules 1-2): "
                "they need no seed pairs, so a single-seed suite has them too.",
            )
        )
    if df["n_seeds"].max() < 2:
        sec.notes.append("one seed per checkpoint: no SD band")
    return sec


# the columns of the curves' CSV
CURVE_COLUMNS = [
    "size",
    "step",
    "n_seeds",
    "n_positions",
    "mean_kl_uniform",
    "sd_kl_uniform",
    "mean_kl_unigram",
    "sd_kl_unigram",
    "mean_ce",
    "sd_ce",
    "mean_entropy",
]


def reference_boundaries(data: ReportData, sec: Section) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Per size, the unigram-closest step and the end of the uniform phase (the view's one phase rule), and the
    seed pairs' boundaries; empty, with a note, when the view has none."""
    try:
        pb = data.view(names.PHASE_BOUNDARIES)
    except Missing as exc:
        sec.notes.append(str(exc))
        return pd.Series(dtype=float), pd.Series(dtype=float), pd.DataFrame()
    unigram_step = pb.groupby("size")["unigram_closest_step"].min().dropna()
    uniform_end = pb.groupby("size")["uniform_end_step"].min().dropna()  # rule 1: reference curves, any kind
    return unigram_step, uniform_end, pb[pb["kind"] == "seed_pair"].set_index("size")


def add_size_curves(fig: go.Figure, g: pd.DataFrame, size: str, i: int) -> None:
    """One size's mean with its SD band in each of the three panels."""
    for j, (mean, sd, _label) in enumerate(PANELS):
        m, s = g[mean].to_numpy(float), g[sd].to_numpy(float)
        for tr in line_with_band(
            step_x(g["step"]), m, m - s, m + s, name=size, colour_=colour(i), legendgroup=f"{j}:{size}"
        ):
            tr["legend"] = legend_ref(j)
            fig.add_trace(tr, row=1, col=j + 1)


def closest_marker(best: pd.Series, size: str, i: int) -> go.Scatter:
    """The star on the unigram panel where ``size`` is closest to the unigram."""
    return go.Scatter(
        x=[best["step"] + 1],
        y=[best["mean_kl_unigram"]],
        mode="markers",
        legendgroup=f"1:{size}",
        legend=legend_ref(1),
        marker=dict(symbol="star", size=13, color=colour(i), line=dict(width=1, color="black")),
        name=f"{size} closest to unigram",
        showlegend=False,
        hovertemplate=f"{size}: closest to unigram at step {int(best['step'])}<extra></extra>",
    )


def finish_layout(fig: go.Figure, df: pd.DataFrame) -> None:
    """Step axes and titles on every panel, the layout, one legend per panel."""
    for j, (_m, _s, label) in enumerate(PANELS):
        fig.update_xaxes(**step_axis(df["step"]), row=1, col=j + 1)
        fig.update_yaxes(title_text=f"{label} (nats)", row=1, col=j + 1)
    fig.update_layout(
        **base_layout(
            "KL to the reference distributions and cross-entropy", height=430, margin=dict(l=60, r=90, t=60, b=50)
        )
    )
    panel_legends(fig, 3, 3)

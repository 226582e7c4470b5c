"""Learnability: how far a run's predictions move between consecutive checkpoints, per size over steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from convdiv.analysis.findings import SETTLED_FRACTION, learnability_account
from convdiv.report.data import ReportData
from convdiv.report.figures import (
    STEP_AXIS_NOTE,
    base_layout,
    colour,
    line_with_band,
    log_axis,
    step_axis,
    step_x,
    tidy,
)
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.uncertainty import BAND, BOOTSTRAP_LINES, bootstrap_note, caption, with_bootstrap, with_intervals
from convdiv.warehouse import names

KEY = "learnability"
TITLE = "Learnability: consecutive-step E[KL]"
GUIDE = (
    "For every run (size, seed) and pair of consecutive checkpoints t -> t_next, the KL between the run's own "
    "next-token distributions at the two steps, averaged over positions (symmetrised: the mean of both "
    "directions) and then over seeds: E[KL](t -> t_next), plotted at t, one line per size, on a log scale. It "
    "measures how much the predictions still change between two checkpoints: higher = more change. Steps are "
    "log-spaced, so each interval spans about as many steps as all before it. The band is a 95% t interval over "
    "seeds (one comparison per seed; jackknife of the log mean); dotted lines, where drawn, are the percentile "
    "bootstrap over seeds. The notes say, per size, where the change is largest and whether the runs have "
    f"settled by the last interval (rule: its change is at most {SETTLED_FRACTION:.0%} of the largest). The study's "
    "presentation showed one model and one direction KL(p_t || p_t_next); this curve averages seeds and directions "
    "(docs/sql.md, Differences from the study). " + STEP_AXIS_NOTE + "."
)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    df = data.view(names.EXPECTED_KL, "kind = 'consecutive_step'")
    if df.empty:
        raise Missing(
            "no consecutive-step comparisons: ingest with `--comparisons consecutive_steps` (the default includes them)"
        )
    df = df.sort_values(["size_rank", "step"])
    df = with_bootstrap(data, with_intervals(data, df, "consecutive_step"), "consecutive_step")
    note = bootstrap_note(data)
    if note:
        sec.notes.append(note)
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    sec.figures.append(
        Figure(
            "learnability-curve",
            curve_figure(df, sizes),
            tidy(df, CURVE_COLUMNS),
            caption=caption(df, "consecutive_step", BAND, extra=[BOOTSTRAP_LINES]),
        )
    )
    for size in sizes:
        sentence = learnability_account(df[df["size"] == size])
        if sentence:
            sec.notes.append(f"size {size}: {sentence}")
    if (df["n_comparisons"] < 2).any():
        sec.notes.append("some steps have a single run: no interval there")
    sec.tables.append(
        Table(
            "learnability-summary",
            "First and last consecutive-step E[KL] per size",
            first_and_last(df),
        )
    )
    return sec


# the columns of the curve's CSV
CURVE_COLUMNS = [
    "size",
    "step",
    "step_b",
    "n_comparisons",
    "n_positions",
    "n_seeds",
    "mean_kl",
    "sd_kl",
    "se_log",
    "ci_low",
    "ci_high",
    "scale",
    "boot_low",
    "boot_high",
]


def curve_figure(df: pd.DataFrame, sizes: list[str]) -> go.Figure:
    """One line per size with its t band (log scale), and the bootstrap's interval as dotted lines."""
    fig = go.Figure()
    for i, size in enumerate(sizes):
        g = df[df["size"] == size]
        fig.add_traces(
            line_with_band(
                step_x(g["step"]),
                g["mean_kl"],
                g["ci_low"],
                g["ci_high"],
                name=size,
                colour_=colour(i),
                hover=f"size {size}<br>step %{{customdata[0]}} -> %{{customdata[1]}}<br>E[KL] %{{y:.4g}}<extra></extra>",
                customdata=np.column_stack([g["step"], g["step_b"]]),
            )
        )
        if g["boot_low"].notna().any():
            for col in ("boot_low", "boot_high"):
                fig.add_trace(
                    go.Scatter(
                        x=step_x(g["step"]),
                        y=g[col],
                        mode="lines",
                        legendgroup=size,
                        showlegend=False,
                        line=dict(color=colour(i), dash="dot", width=1),
                        name=f"{size} bootstrap",
                        hoverinfo="skip",
                    )
                )
    fig.update_layout(
        **base_layout(
            "Consecutive-step E[KL] per size (how much each run still changes)",
            height=440,
            xaxis=step_axis(df["step"], "training step t (-> the next step)"),
            yaxis=log_axis("E[KL](t -> t_next) (nats)"),
            legend=dict(title="size"),
        )
    )
    return fig


def first_and_last(df: pd.DataFrame) -> pd.DataFrame:
    """Per size, the first and the last consecutive-step E[KL] and their ratio."""
    last = df.sort_values("step").groupby("size", sort=False).tail(1)
    first = df.sort_values("step").groupby("size", sort=False).head(1)
    summary = first[["size", "step", "mean_kl"]].merge(
        last[["size", "step", "mean_kl"]], on="size", suffixes=("_first", "_last")
    )
    summary["ratio_last_to_first"] = summary["mean_kl_last"] / summary["mean_kl_first"]
    return summary.rename(columns={"step_first": "first_step", "step_last": "last_step"})

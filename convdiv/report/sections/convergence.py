"""Expected convergence: -E[KL] across seeds against training step, one line per size, with the four phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from convdiv.analysis.phases import (
    PAPER_LINES,
    PRESENTATION_LINES,
    empty_spans,
    missing_reasons,
    paper_spans,
    phase_account,
    presentation_spans,
)
from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PHASE_COLOURS,
    PRESENTATION_PHASE_COLOURS,
    STEP_AXIS_NOTE,
    base_layout,
    colour,
    line_with_band,
    step_axis,
    step_x,
    tidy,
)
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.uncertainty import BAND, BOOTSTRAP_LINES, bootstrap_note, caption, with_bootstrap, with_intervals
from convdiv.warehouse import names

KEY = "convergence"
TITLE = "Expected convergence"
GUIDE = (
    "Convergence is -E[KL]: minus the expected KL divergence between the next-token distributions of two models "
    "of the same size trained from different seeds, averaged over seed pairs and over the corpus's positions "
    "(0 = the seeds predict identically; lower = they disagree more). The band is a 95% interval over seeds "
    "(leave-one-seed-out jackknife with Student's t, which counts that every seed takes part in several pairs); "
    "dotted lines, where drawn, are the percentile bootstrap over seeds. The caption under the figure gives the "
    "numbers of seeds, pairs and positions. The shaded spans are the phases of the largest size's curve as the "
    "phase_boundaries view places them (one rule, in SQL; docs/sql.md): the paper's uniform, sharp convergence, "
    "sharp divergence and slow reconvergence, or, with the menu, the presentation's uniform, functional "
    "universality, unigram transition and contextual learning. A phase the data cannot place, or whose span has "
    "zero length, is not shaded; the notes narrate every size's curve through its boundaries with the measured "
    "values and say which phases are absent. The menu also adds the study's phase lines (steps 16, 256, 2000) or "
    "the presentation's (8, 64, 1000); the table gives every size's boundaries. " + STEP_AXIS_NOTE + "."
)
BOUNDARY_COLUMNS = [
    "first_step",
    "uniform_end_step",
    "convergence_min_step",
    "unigram_closest_step",
    "divergence_peak_step",
    "reconvergence_start_step",
    "sharp_rise_start_step",
    "sharp_rise_end_step",
    "last_step",
]


def _vline(step: int, colour_: str, label: str) -> tuple[dict, dict]:
    shape = dict(
        type="line",
        xref="x",
        yref="paper",
        x0=step + 1,
        x1=step + 1,
        y0=0,
        y1=1,
        line=dict(color=colour_, width=1.5, dash="dot"),
    )
    note = dict(
        x=np.log10(step + 1),
        xref="x",
        yref="paper",
        y=0.02,
        text=label,
        showarrow=False,
        font=dict(size=10, color=colour_),
        xanchor="left",
    )
    return shape, note


def _shaded(spans: list[tuple[str, int, int]], colours: dict[str, str]) -> tuple[list[dict], list[dict]]:
    shapes, notes = [], []
    for name, start, end in spans:
        shapes.append(
            dict(
                type="rect",
                xref="x",
                yref="paper",
                x0=start + 1,
                x1=end + 1,
                y0=0,
                y1=1,
                fillcolor=colours[name],
                line=dict(width=0),
                layer="below",
            )
        )
        mid = (np.log10(start + 1) + np.log10(end + 1)) / 2
        notes.append(
            dict(x=mid, xref="x", yref="paper", y=1.0, yanchor="bottom", text=name, showarrow=False, font=dict(size=10))
        )
    return shapes, notes


def boundaries(data: ReportData, curves: pd.DataFrame, sec: Section) -> pd.DataFrame:
    """phase_boundaries rows for seed pairs per size (first/last step from the curve where the view lacks them)."""
    try:
        pb = data.view(names.PHASE_BOUNDARIES, "kind = 'seed_pair'")
    except Missing as exc:
        sec.notes.append(str(exc))
        return pd.DataFrame(columns=["size"])
    ends = curves.groupby("size")["step"].agg(["min", "max"]).rename(columns={"min": "first_step", "max": "last_step"})
    for col in ("first_step", "last_step"):
        if col not in pb.columns:
            pb[col] = pb["size"].map(ends[col])
    if "sharp_rise_start_step" not in pb.columns:
        sec.notes.append(
            "the warehouse's phase_boundaries lacks the presentation's boundaries: run `convdiv db upgrade`"
        )
    order = {s: i for i, s in enumerate(data.scope.sizes)}
    return pb.sort_values("size", key=lambda s: s.map(order)).reset_index(drop=True)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    df = seed_pair_curves(data)
    note = bootstrap_note(data)
    if note:
        sec.notes.append(note)
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    fig = curve_figure(df, sizes)
    phases = boundaries(data, df, sec)
    sec.notes.extend(phase_notes(phases, df))
    fig.update_layout(**curve_layout(df, phases))
    sec.figures.append(
        Figure(
            "convergence-curve",
            fig,
            tidy(df, CURVE_COLUMNS),
            caption=caption(df, "seed_pair", BAND, extra=[BOOTSTRAP_LINES]),
        )
    )
    if not phases.empty:
        table = phases[["size", *[c for c in BOUNDARY_COLUMNS if c in phases.columns]]]
        sec.tables.append(
            Table(
                "convergence-phases",
                "Phase boundaries per size (steps)",
                table,
                caption="From the phase_boundaries view (seed pairs); empty: the data cannot "
                "place that boundary (see the notes).",
            )
        )
    return sec


# the columns of the curve's CSV
CURVE_COLUMNS = [
    "size",
    "step",
    "n_comparisons",
    "n_positions",
    "n_seeds",
    "mean_kl",
    "convergence",
    "sd_kl",
    "se_log",
    "ci_low",
    "ci_high",
    "scale",
    "boot_low",
    "boot_high",
]


def seed_pair_curves(data: ReportData) -> pd.DataFrame:
    """E[KL] across seeds per size and step, negated as convergence, with the t intervals and the bootstrap's."""
    df = data.view(names.EXPECTED_KL, "kind = 'seed_pair'")
    if df.empty:
        if data.run_seeds < 2:
            raise Missing(
                "needs at least 2 seeds: expected convergence is E[KL] between the runs of different seeds, and this "
                "suite has one seed per size (Learnability shows how the run changes from step to step)"
            )
        raise Missing(
            "no seed-pair comparisons: ingest with `--comparisons seed_pairs` (the default includes them); "
            "expected convergence across seeds is omitted"
        )
    df = df.sort_values(["size_rank", "step"])
    df["convergence"] = -df["mean_kl"]
    return with_bootstrap(data, with_intervals(data, df, "seed_pair"), "seed_pair")


def curve_figure(df: pd.DataFrame, sizes: list[str]) -> go.Figure:
    """One line per size with its t band, and the bootstrap's interval as dotted lines where there is one."""
    fig = go.Figure()
    for i, size in enumerate(sizes):
        g = df[df["size"] == size]
        fig.add_traces(
            line_with_band(
                step_x(g["step"]),
                g["convergence"],
                -g["ci_high"],
                -g["ci_low"],
                name=f"{size}",
                colour_=colour(i),
                hover=f"size {size}<br>step %{{customdata}}<br>-E[KL] %{{y:.4g}}<extra></extra>",
                customdata=g["step"].to_numpy(),
            )
        )
        if g["boot_low"].notna().any():
            for col in ("boot_low", "boot_high"):
                fig.add_trace(
                    go.Scatter(
                        x=step_x(g["step"]),
                        y=-g[col],
                        mode="lines",
                        legendgroup=size,
                        showlegend=False,
                        line=dict(color=colour(i), dash="dot", width=1),
                        name=f"{size} bootstrap",
                        hoverinfo="skip",
                    )
                )
    return fig


def phase_notes(phases: pd.DataFrame, df: pd.DataFrame) -> list[str]:
    """Per size: the account of its phases, the empty spans, and why the sharp rise could not be placed."""
    notes = []
    for _, row in phases.iterrows():
        bounds = row.to_dict()
        curve = df[df["size"] == row["size"]].set_index("step")["mean_kl"].to_dict()
        notes.append(f"size {row['size']}: {phase_account(bounds, curve)}")
        for sentence in empty_spans(bounds):
            notes.append(f"size {row['size']}: {sentence}")
        for reason in missing_reasons(bounds):
            if "sharp rise" in reason:  # the paper's absent boundaries are in the account above
                notes.append(f"size {row['size']}: {reason}")
    return notes


def curve_layout(df: pd.DataFrame, phases: pd.DataFrame) -> dict:
    """The curve's layout: the largest size's phases shaded, and buttons that switch between the paper's phases,
    the presentation's, and their vertical lines."""
    shapes: list[dict] = []
    notes: list[dict] = []
    pshapes: list[dict] = []
    pnotes: list[dict] = []
    if not phases.empty:
        largest = phases.iloc[-1].to_dict()
        shapes, notes = _shaded(paper_spans(largest), PHASE_COLOURS)
        pshapes, pnotes = _shaded(presentation_spans(largest), PRESENTATION_PHASE_COLOURS)
    study = [_vline(s, "#444", f"study {s}") for s in PAPER_LINES]
    pres = [_vline(s, "#a33", f"presentation {s}") for s in PRESENTATION_LINES]
    menus = [
        dict(
            type="buttons",
            direction="right",
            x=0,
            y=-0.2,
            xanchor="left",
            yanchor="top",
            showactive=True,
            active=0,
            buttons=[
                dict(label="paper's phases", method="relayout", args=[{"shapes": shapes, "annotations": notes}]),
                dict(
                    label="+ study lines 16/256/2000",
                    method="relayout",
                    args=[{"shapes": shapes + [s for s, _ in study], "annotations": notes + [a for _, a in study]}],
                ),
                dict(
                    label="presentation's phases", method="relayout", args=[{"shapes": pshapes, "annotations": pnotes}]
                ),
                dict(
                    label="+ presentation lines 8/64/1000",
                    method="relayout",
                    args=[{"shapes": pshapes + [s for s, _ in pres], "annotations": pnotes + [a for _, a in pres]}],
                ),
            ],
        )
    ]
    return base_layout(
        "Convergence across seeds, -E[KL] (nats)",
        height=480,
        xaxis=step_axis(df["step"]),
        yaxis=dict(title="-E[KL] across seeds (nats)"),
        shapes=shapes,
        annotations=notes,
        updatemenus=menus,
        legend=dict(title="size"),
        margin=dict(l=60, r=20, t=70, b=110),
    )

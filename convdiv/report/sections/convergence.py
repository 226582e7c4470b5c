"""Expected convergence: -E[KL] across seeds against training step, one line per size, with the four phases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from convdiv.analysis.phases import PAPER_LINES, PRESENTATION_LINES, detect_phases
from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PHASE_COLOURS, STEP_AXIS_NOTE, base_layout, colour, line_with_band, step_axis, step_x, tidy,
)
from convdiv.report.model import Figure, Missing, Section, Table

KEY = "convergence"
TITLE = "Expected convergence"
GUIDE = (
    "Convergence is -E[KL]: minus the expected KL divergence between the next-token distributions of two models "
    "of the same size trained from different seeds, averaged over seed pairs and over the corpus's positions "
    "(0 = the seeds predict identically; lower = they disagree more). The band is the 95% confidence interval "
    "over seed pairs. The shaded spans are the four phases detected on the largest size's curve: uniform "
    "(the models still predict close to uniform), sharp convergence (they fall onto the same unigram-like "
    "prediction), sharp divergence (they learn context and part ways) and slow reconvergence; a phase the curve "
    "does not show (e.g. no convergence valley in a short run) is left out. The menu adds the "
    "study's phase lines (steps 16, 256, 2000) or the presentation's (8, 64, 1000) for comparison; the table "
    "gives every size's boundaries from the Python rule and from the SQL view. " + STEP_AXIS_NOTE + "."
)


def phases_by_size(data: ReportData, curves: pd.DataFrame) -> pd.DataFrame:
    """Python phase boundaries per size from E[KL] (seed pairs) and the reference KL curves."""
    try:
        ref = data.view("reference_kl")
    except Missing:
        ref = pd.DataFrame(columns=["size", "step", "mean_kl_uniform", "mean_kl_unigram"])
    rows = []
    for size, g in curves.groupby("size", sort=False):
        r = ref[ref["size"] == size].set_index("step").reindex(g["step"])
        ph = detect_phases(g["step"].to_numpy(), g["mean_kl"].to_numpy(),
                           kl_uniform=r["mean_kl_uniform"].to_numpy(dtype=float),
                           kl_unigram=r["mean_kl_unigram"].to_numpy(dtype=float))
        rows.append({"size": size, **ph.as_dict(), "spans": ph.spans()})
    return pd.DataFrame(rows)


def _vline(step: int, colour_: str, label: str) -> tuple[dict, dict]:
    shape = dict(type="line", xref="x", yref="paper", x0=step + 1, x1=step + 1, y0=0, y1=1,
                 line=dict(color=colour_, width=1.5, dash="dot"))
    note = dict(x=np.log10(step + 1), xref="x", yref="paper", y=0.02, text=label, showarrow=False,
                font=dict(size=10, color=colour_), xanchor="left")
    return shape, note


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    df = data.view("expected_kl", "kind = 'seed_pair'")
    if df.empty:
        raise Missing("no seed-pair comparisons (a single-seed suite, or seed pairs not ingested): "
                      "expected convergence across seeds is omitted")
    df = df.sort_values(["size_rank", "step"])
    df["convergence"] = -df["mean_kl"]
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    fig = go.Figure()
    for i, size in enumerate(sizes):
        g = df[df["size"] == size]
        fig.add_traces(line_with_band(
            step_x(g["step"]), g["convergence"], -g["ci_high"], -g["ci_low"], name=f"{size}", colour_=colour(i),
            hover=f"size {size}<br>step %{{customdata}}<br>-E[KL] %{{y:.4g}}<extra></extra>",
            customdata=g["step"].to_numpy(),
        ))

    phases = phases_by_size(data, df)
    shapes, notes = [], []
    if not phases.empty:
        largest = phases.iloc[-1]
        for name, start, end in largest["spans"]:
            shapes.append(dict(type="rect", xref="x", yref="paper", x0=start + 1, x1=end + 1, y0=0, y1=1,
                               fillcolor=PHASE_COLOURS[name], line=dict(width=0), layer="below"))
            mid = (np.log10(start + 1) + np.log10(end + 1)) / 2
            notes.append(dict(x=mid, xref="x", yref="paper", y=1.0, yanchor="bottom", text=name, showarrow=False,
                              font=dict(size=10)))
    study = [_vline(s, "#444", f"study {s}") for s in PAPER_LINES]
    pres = [_vline(s, "#a33", f"presentation {s}") for s in PRESENTATION_LINES]
    menus = [dict(
        type="buttons", direction="right", x=0, y=-0.2, xanchor="left", yanchor="top", showactive=True, active=0,
        buttons=[
            dict(label="detected phases", method="relayout", args=[{"shapes": shapes, "annotations": notes}]),
            dict(label="+ study lines 16/256/2000", method="relayout",
                 args=[{"shapes": shapes + [s for s, _ in study], "annotations": notes + [a for _, a in study]}]),
            dict(label="+ presentation lines 8/64/1000", method="relayout",
                 args=[{"shapes": shapes + [s for s, _ in pres], "annotations": notes + [a for _, a in pres]}]),
        ],
    )]
    fig.update_layout(**base_layout("Convergence across seeds, -E[KL] (nats)", height=480,
                                    xaxis=step_axis(df["step"]), yaxis=dict(title="-E[KL] across seeds (nats)"),
                                    shapes=shapes, annotations=notes, updatemenus=menus,
                                    margin=dict(l=60, r=20, t=70, b=110)))
    sec.figures.append(Figure("convergence-curve", fig, tidy(df, [
        "size", "step", "n_comparisons", "n_positions", "mean_kl", "convergence", "sd_kl", "se_kl", "ci_low",
        "ci_high"])))

    # Boundaries table: Python rule next to the SQL view's rule.
    table = phases.drop(columns=["spans", "first_step", "last_step"]) if not phases.empty else phases
    try:
        sql = data.view("phase_boundaries", "kind = 'seed_pair'")
        cols = ["uniform_end_step", "convergence_min_step", "divergence_peak_step", "unigram_closest_step"]
        sql = sql[["size", *[c for c in cols if c in sql.columns]]].rename(columns={c: f"sql_{c}" for c in cols})
        table = table.merge(sql, on="size", how="left")
    except Missing as exc:
        sec.notes.append(str(exc))
    sec.tables.append(Table("convergence-phases", "Phase boundaries per size (steps)", table,
                            caption="Python rule (convdiv.analysis.phases) and, prefixed sql_, the view's rule."))
    return sec

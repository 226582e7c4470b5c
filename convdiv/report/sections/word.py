"""Begin/end of word, and context variance (the spread of per-position E[KL] across contexts)."""

from __future__ import annotations

import plotly.graph_objects as go

from convdiv.analysis.findings import sigma_account
from convdiv.report.data import KIND_LABEL, ReportData
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
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections._categories import PANEL_COLUMNS, category_panels
from convdiv.report.uncertainty import BAND, caption, with_intervals
from convdiv.warehouse import names

KEY = "word"
TITLE = "Begin/end of word and context variance"
GUIDE = (
    "Left: convergence -E[KL] for positions whose predicted token begins a word (true) or continues one "
    "(false); right: tokens that end a word or not. Bands are 95% intervals over seeds (jackknife-t). The slides "
    "expect seeds to agree early on word-internal continuations, which the prefix largely determines; the notes "
    "measure, per size and step, whether continuations diverge more or less than the average position (sigma's "
    "interval over seeds, as in the heatmaps). The second figure shows context variance: the mean over positions "
    "of the per-position E[KL] (line) and, dashed, its standard deviation across positions: how unevenly "
    "divergence is spread over contexts at each step (descriptive: no interval). " + STEP_AXIS_NOTE + "."
)
WORD_LABELS = {
    ("begin_of_word", "false"): "tokens that continue a word (not word-initial)",
    ("end_of_word", "false"): "tokens that do not end a word",
}


def boundary_notes(data: ReportData, kind: str) -> list[str]:
    """Per size: continuations against the average position, step by step (analysis.findings.sigma_account)."""
    iv = data.intervals(kind, ("begin_of_word", "end_of_word"))
    notes = []
    for size in data.scope.sizes:
        for (family, category), label in WORD_LABELS.items():
            rows = iv[(iv["size"] == size) & (iv["family"] == family) & (iv["category"] == category)]
            sentence = sigma_account(rows, label)
            if sentence:
                notes.append(f"size {size}: {sentence}")
    return notes


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    df = data.view(names.CONDITIONAL_KL, "family IN ('begin_of_word', 'end_of_word') AND kind = %(kind)s", kind=kind)
    sizes = list(data.scope.sizes)
    if df.empty:
        sec.notes.append("no begin/end-of-word categories in conditional_kl")
    else:
        sizes = [s for s in sizes if s in set(df["size"])]
        df = with_intervals(data, df, kind, ("begin_of_word", "end_of_word"), on_category=True)
        panels = {"begin of word": None, "end of word": None}
        families = {"begin of word": "begin_of_word", "end of word": "end_of_word"}
        fig, plotted = category_panels(
            df, panels, sizes, f"Convergence at word boundaries ({KIND_LABEL[kind]})", families=families
        )
        sec.figures.append(
            Figure(
                "word-boundaries",
                fig,
                tidy(plotted, PANEL_COLUMNS),
                caption=caption(plotted, kind, BAND, positions="positions per category and comparison"),
            )
        )
        sec.notes.extend(boundary_notes(data, kind))

    cv = data.view(names.CONTEXT_VARIANCE, "kind = %(kind)s", kind=kind)
    if cv.empty:
        if df.empty:
            raise Missing("neither word-boundary categories nor context variance are available")
        sec.notes.append("no context variance rows")
        return sec
    cv = cv.sort_values(["size_rank", "step"])
    fig = go.Figure()
    for i, size in enumerate([s for s in data.scope.sizes if s in set(cv["size"])]):
        g = cv[cv["size"] == size]
        fig.add_traces(
            line_with_band(step_x(g["step"]), g["mean_kl"], name=f"{size} mean", colour_=colour(i), legendgroup=size)
        )
        fig.add_traces(
            line_with_band(
                step_x(g["step"]),
                g["sd_kl"],
                name=f"{size} SD across positions",
                colour_=colour(i),
                legendgroup=size,
                dash="dash",
            )
        )
    fig.update_layout(
        **base_layout(
            f"Context variance of E[KL] ({KIND_LABEL[kind]})",
            height=420,
            xaxis=step_axis(cv["step"]),
            yaxis=log_axis("nats"),
        )
    )
    sec.figures.append(
        Figure(
            "word-context-variance",
            fig,
            tidy(cv, ["kind", "size", "step", "step_b", "n_comparisons", "n_positions", "mean_kl", "sd_kl"]),
            caption=caption(
                cv,
                kind,
                "no interval: the line is the mean and the dashed line the SD across positions (descriptive)",
                seeds=cv.merge(data.intervals(kind), on=["size", "step"], how="left")["n_seeds"],
            ),
        )
    )
    return sec

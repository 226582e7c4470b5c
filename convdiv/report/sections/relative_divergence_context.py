"""Relative divergence by the context token's part of speech, POS(t-1): the slides' modal and quantifier outliers."""

from __future__ import annotations

import pandas as pd

from convdiv.analysis.findings import sigma_account
from convdiv.analysis.intervals import MARK_WORDS
from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections._categories import late_label, late_steps
from convdiv.report.sections.pos import heatmap_caption, outlier_table, sigma_heatmap, sigma_intervals, tagset_note
from convdiv.warehouse import names

KEY = "relative-divergence-context"
TITLE = "Relative divergence by context, POS(t-1)"
GUIDE = (
    "sigma = E[KL | POS(t-1) = c] / E[KL]: how much more (red, sigma > 1) or less (blue) the models disagree on "
    "the next token when the context token w(x) has part of speech c, per step, one size at a time (menu). The "
    "study's slides single out contexts after modals (can, may, need: MD) and after quantifiers (all, either, "
    "every: DT/PDT) as ones whose continuations stay unsettled across seeds; the notes measure that claim on this "
    "data for MD, DT and PDT, from the divergence peak on (for a corpus tagged with Universal POS: AUX, which holds "
    "the modals, and DET). Crosses mark cells outside the view's outlier band "
    "(settings convdiv.outlier_low / outlier_high, default [0.8, 1.25]); rings mark cells whose 95% interval over "
    f"seeds excludes 1 and where {MARK_WORDS}. The first heatmap "
    "compares seeds, the second consecutive steps of a run (which contexts a run still relearns). The table "
    "lists the flagged categories with their most frequent context tokens. Steps are evenly spaced on the x axis."
)
# The slides' examples: modals and quantifiers as the context token, per tagset (report.groupings). UPOS has no
# modal tag of its own: AUX holds the modals with be/have/do; DET holds determiners, quantifiers and predeterminers.
CONTEXT_TAGS = {
    "MD": "next tokens after a modal (MD)",
    "DT": "next tokens after a determiner or quantifier (DT)",
    "PDT": "next tokens after a predeterminer (PDT)",
}
CONTEXT_TAGS_BY_TAGSET = {
    "ptb": CONTEXT_TAGS,
    "upos": {
        "AUX": "next tokens after an auxiliary or modal (AUX)",
        "DET": "next tokens after a determiner, quantifier or predeterminer (DET)",
    },
}


def context_notes(data: ReportData, plotted: pd.DataFrame, kind: str) -> list[str]:
    """Per size and slide tag: how its sigma compares with the average from the divergence peak on (a rule of
    analysis.findings), or nothing where the tag is absent."""
    notes = []
    for size in data.scope.sizes:
        g = plotted[plotted["size"] == size]
        late = g[g["step"].isin(late_steps(data, size, g["step"]))]
        for tag, label in CONTEXT_TAGS_BY_TAGSET.get(data.tagset, CONTEXT_TAGS).items():
            sentence = sigma_account(late[late["category"] == tag], label)
            if sentence:
                notes.append(f"size {size}, {KIND_LABEL[kind]}, {late_label(data, size)}: {sentence}")
    return notes


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    rd = data.view(names.RELATIVE_DIVERGENCE, "family = 'pos_prev'")
    if rd.empty:
        raise Missing(
            "no relative divergence for POS(t-1) categories (corpus added without a POS tagger, or no "
            "comparisons ingested)"
        )
    sizes = [s for s in data.scope.sizes if s in set(rd["size"])]
    sec.notes.append(tagset_note(data))
    iv = sigma_intervals(data, "pos_prev", sec)
    frames = []
    for kind in ("seed_pair", "consecutive_step"):
        if kind not in set(rd["kind"]):
            sec.notes.append(f"no relative divergence for {KIND_LABEL[kind]}")
            continue
        fig, plotted = sigma_heatmap(rd, kind, sizes, "pos_prev", iv[iv["kind"] == kind])
        sec.figures.append(Figure(f"context-sigma-{kind}", fig, plotted, caption=heatmap_caption(plotted, kind)))
        sec.notes.extend(context_notes(data, plotted, kind))
        frames.append(plotted)
    table = outlier_table(data, frames, "pos_prev", "context-outliers")
    if table is not None:
        sec.tables.append(table)
    return sec

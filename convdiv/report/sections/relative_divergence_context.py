"""Relative divergence by the context token's part of speech, POS(t-1): the slides' modal and quantifier outliers."""

from __future__ import annotations

from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections.pos import outlier_table, seed_bootstrap, sigma_heatmap

KEY = "relative-divergence-context"
TITLE = "Relative divergence by context, POS(t-1)"
GUIDE = (
    "sigma = E[KL | POS(t-1) = c] / E[KL]: how much more (red, sigma > 1) or less (blue) the models disagree on "
    "the next token when the context token w(x) has part of speech c, per step, one size at a time (menu). The "
    "study's slides single out contexts after modals (can, may, need: MD) and after quantifiers (all, either, "
    "every: DT/PDT), whose continuations stay unsettled across seeds. Crosses mark cells outside the view's "
    "outlier band (settings convdiv.outlier_low / outlier_high, default [0.8, 1.25]); rings mark cells whose 95% "
    "bootstrap interval over seeds excludes 1, i.e. outliers that do not hinge on one seed. The first heatmap "
    "compares seeds, the second consecutive steps of a run (which contexts a run still relearns). The table "
    "lists the flagged categories with their most frequent context tokens. Steps are evenly spaced on the x axis."
)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    rd = data.view("relative_divergence", "family = 'pos_prev'")
    if rd.empty:
        raise Missing(
            "no relative divergence for POS(t-1) categories (corpus added without a POS tagger, or no "
            "comparisons ingested)"
        )
    sizes = [s for s in data.scope.sizes if s in set(rd["size"])]
    boot = seed_bootstrap(data, sec)
    frames = []
    for kind in ("seed_pair", "consecutive_step"):
        if kind not in set(rd["kind"]):
            sec.notes.append(f"no relative divergence for {KIND_LABEL[kind]}")
            continue
        fig, plotted = sigma_heatmap(rd, kind, sizes, "pos_prev", boot)
        sec.figures.append(Figure(f"context-sigma-{kind}", fig, plotted))
        frames.append(plotted)
    table = outlier_table(data, frames, "pos_prev", "context-outliers")
    if table is not None:
        sec.tables.append(table)
    return sec

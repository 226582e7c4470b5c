"""Cross-entropy fitting for the context token's part of speech, POS(t-1)."""

from __future__ import annotations

from convdiv.report.data import ReportData
from convdiv.report.model import Section
from convdiv.report.sections.ce_fit import build_family

KEY = "ce-fit-context"
TITLE = "Cross-entropy fitting by context, POS(t-1)"
GUIDE = (
    "The fit of the previous section, KL_c = alpha * Q + b over pairs of consecutive checkpoints of a run, for "
    "categories c of the context token's part of speech POS(t-1) instead of the predicted token's. The slides' "
    "headline example is NNP in context (after a proper noun), alpha = 394.09%: the slides print alpha x 100 as a "
    "percentage, so the table shows alpha_pct beside the raw alpha. A large alpha means the category's divergence "
    "grows steeply with the change in its cross-entropy. The figure shows the most frequent context tags; the "
    "table every tag, sorted by alpha."
)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    build_family(sec, data, "pos_prev", "ce-fit-context", None)
    return sec

"""By frequency: conditional convergence per token-frequency bin and per final-surprisal bin."""

from __future__ import annotations

from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import STEP_AXIS_NOTE, tidy
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections._categories import category_panels

KEY = "frequency"
TITLE = "By frequency"
GUIDE = (
    "Convergence -E[KL] restricted to positions whose predicted token falls in a frequency bin (decades of its "
    "count in the frequency corpus: [1,10), [10,100), ...), and in a final-surprisal bin (the token's mean "
    "cross-entropy at the last ingested step of that size: 0-1, 1-2, 2-4, 4-8, 8+ nats), one size at a time "
    "(menu); bands are 95% intervals over comparisons. The study finds frequent tokens converge first and most; "
    "tokens that stay hard to predict (high final surprisal) keep diverging. " + STEP_AXIS_NOTE + "."
)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    df = data.view("conditional_kl", "family IN ('frequency_bin', 'surprisal_bin') AND kind = %(kind)s", kind=kind)
    if df.empty:
        raise Missing("no frequency or surprisal bins in conditional_kl for this suite and corpus")
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    panels = {"frequency bin": None, "final-surprisal bin": None}
    families = {"frequency bin": "frequency_bin", "final-surprisal bin": "surprisal_bin"}
    fig, plotted = category_panels(df, panels, sizes, f"Convergence by frequency and final surprisal "
                                   f"({KIND_LABEL[kind]})", families=families)
    sec.figures.append(Figure("frequency-bins", fig, tidy(plotted, [
        "panel", "family", "category", "category_order", "kind", "size", "step", "n_comparisons", "n_positions",
        "mean_kl", "ci_low", "ci_high", "mean_ce"])))
    if "surprisal_bin" not in set(df["family"]):
        sec.notes.append("no final-surprisal bins (they need the last step of each size ingested)")
    return sec

"""By frequency: conditional convergence per token-frequency bin and per final-surprisal bin, sizes overlaid."""

from __future__ import annotations

from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import STEP_AXIS_NOTE, tidy
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections._categories import size_panels

KEY = "frequency"
TITLE = "By frequency"
GUIDE = (
    "Convergence -E[KL] restricted to positions whose predicted token falls in a frequency bin (decades of its "
    "count in the frequency corpus: [1,10), [10,100), ...), one panel per bin with every model size overlaid, as "
    "in the paper's figure; the second figure does the same per final-surprisal bin (the token's mean "
    "cross-entropy at the last ingested step of that size: 0-1, 1-2, 2-4, 4-8, 8+ nats). Bands are 95% intervals "
    "over comparisons. The study finds frequent tokens converge first and most; tokens that stay hard to predict "
    "(high final surprisal) keep diverging. " + STEP_AXIS_NOTE + "."
)
COLUMNS = [
    "family",
    "category",
    "category_order",
    "kind",
    "size",
    "step",
    "n_comparisons",
    "n_positions",
    "mean_kl",
    "ci_low",
    "ci_high",
    "mean_ce",
]


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    df = data.view("conditional_kl", "family IN ('frequency_bin', 'surprisal_bin') AND kind = %(kind)s", kind=kind)
    if df.empty:
        raise Missing("no frequency or surprisal bins in conditional_kl for this suite and corpus")
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    for family, key, label, panel in (
        ("frequency_bin", "frequency-bins", "frequency bin", "frequency {category}"),
        ("surprisal_bin", "frequency-surprisal-bins", "final-surprisal bin", "final surprisal {category}"),
    ):
        fam = df[df["family"] == family]
        if fam.empty:
            sec.notes.append(
                f"no {label}s"
                + (" (they need the last step of each size ingested)" if family == "surprisal_bin" else "")
            )
            continue
        fig, plotted = size_panels(
            fam, sizes, f"Convergence by {label}, sizes overlaid ({KIND_LABEL[kind]})", panel_title=panel
        )
        sec.figures.append(Figure(key, fig, tidy(plotted, COLUMNS)))
    return sec

"""By frequency: conditional convergence per token-frequency bin and per final-surprisal bin, sizes overlaid."""

from __future__ import annotations

import pandas as pd

from convdiv.analysis.findings import frequency_account, sigma_account
from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import STEP_AXIS_NOTE, tidy
from convdiv.report.model import Figure, Missing, Section
from convdiv.report.sections._categories import late_label, late_steps, size_panels
from convdiv.report.uncertainty import BAND, caption, with_intervals
from convdiv.warehouse import names

KEY = "frequency"
TITLE = "By frequency"
GUIDE = (
    "Convergence -E[KL] restricted to positions whose predicted token falls in a frequency bin (decades of its "
    "count in the frequency corpus: [1,10), [10,100), ...), one panel per bin with every model size overlaid, as "
    "in the paper's figure; the second figure does the same per final-surprisal bin (the token's mean "
    "cross-entropy at the last ingested step of that size: 0-1, 1-2, 2-4, 4-8, 8+ nats). Bands are 95% intervals "
    "over seeds (jackknife-t; the captions give n). The study finds that frequent tokens converge first and most "
    "and that tokens which stay hard to predict (high final surprisal) keep diverging; the notes measure both on "
    "this data: how E[KL] orders the frequency bins at the last step, and how the highest final-surprisal bin "
    "compares with the average from the divergence peak on. " + STEP_AXIS_NOTE + "."
)
COLUMNS = [
    "family",
    "category",
    "category_order",
    "kind",
    "size",
    "step",
    "n_comparisons",
    "n_seeds",
    "n_positions",
    "mean_kl",
    "se_log",
    "ci_low",
    "ci_high",
    "scale",
    "mean_ce",
]


def sigma_rows(data: ReportData, kind: str, family: str) -> pd.DataFrame:
    iv = data.intervals(kind, (family,))
    return iv[["size", "step", "category", "sigma", "sigma_low", "sigma_high"]]


def frequency_notes(data: ReportData, fam: pd.DataFrame, kind: str) -> list[str]:
    """At each size's last step: how E[KL] orders the frequency bins (analysis.findings.frequency_account)."""
    rows = fam.merge(sigma_rows(data, kind, "frequency_bin"), on=["size", "step", "category"], how="left")
    notes = []
    for size, g in rows.groupby("size", sort=False):
        last = g[g["step"] == g["step"].max()]
        sentence = frequency_account(last)
        if sentence:
            notes.append(f"size {size}, step {int(last['step'].iloc[0])}: {sentence}")
    return notes


def surprisal_notes(data: ReportData, fam: pd.DataFrame, kind: str) -> list[str]:
    """The highest final-surprisal bin against the average, from the divergence peak on."""
    rows = fam.merge(sigma_rows(data, kind, "surprisal_bin"), on=["size", "step", "category"], how="left")
    notes = []
    for key, g in rows.groupby("size", sort=False):
        size = str(key)  # a size label
        top = g[g["category_order"] == g["category_order"].max()]
        late = top[top["step"].isin(late_steps(data, size, top["step"]))]
        if late.empty:
            continue
        label = f"tokens with the highest final surprisal ({late['category'].iloc[0]} nats)"
        sentence = sigma_account(late, label)
        if sentence:
            notes.append(f"size {size}, {late_label(data, size)}: {sentence}")
    return notes


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    df = data.view(names.CONDITIONAL_KL, "family IN ('frequency_bin', 'surprisal_bin') AND kind = %(kind)s", kind=kind)
    if df.empty:
        raise Missing("no frequency or surprisal bins in conditional_kl for this suite and corpus")
    df = with_intervals(data, df, kind, ("frequency_bin", "surprisal_bin"), on_category=True)
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    for family, key, label, panel, notes in (
        ("frequency_bin", "frequency-bins", "frequency bin", "frequency {category}", frequency_notes),
        (
            "surprisal_bin",
            "frequency-surprisal-bins",
            "final-surprisal bin",
            "final surprisal {category}",
            surprisal_notes,
        ),
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
        sec.figures.append(
            Figure(
                key,
                fig,
                tidy(plotted, COLUMNS),
                caption=caption(plotted, kind, BAND, positions="positions per bin and comparison"),
            )
        )
        sec.notes.extend(notes(data, fam, kind))
    return sec

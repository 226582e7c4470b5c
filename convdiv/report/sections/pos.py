"""By part of speech: conditional convergence for POS(t) and POS(t-1), and relative divergence heatmaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import STEP_AXIS_NOTE, base_layout, size_dropdown, tidy
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.sections._categories import POS_PANELS, category_panels, merge_groups

KEY = "pos"
TITLE = "By part of speech"
GUIDE = (
    "Convergence -E[KL] restricted to the positions whose predicted token has a given part of speech, POS(t), or "
    "whose context token has it, POS(t-1), one size at a time (menu). Panels follow the presentation's groupings: "
    "nouns (NN, NNS, NNP, NNPS), verbs (VB, VBD, VBG, VBN, VBP, VBZ), other function and content tags, and a "
    "grouped view where 'nouns' and 'verbs' are merged tags (their position-weighted mean; no band). Bands are 95% "
    "intervals over comparisons. The heatmaps show relative divergence sigma = E[KL | category] / E[KL] per "
    "category and step: red above 1 (the category diverges more than average), blue below; crosses mark outliers "
    "outside the view's band (default [0.8, 1.25]). For consecutive steps sigma is the study's learnability "
    "analysis (how much a category's predictions still change between checkpoints). The last table gives example "
    "tokens of every outlying category. " + STEP_AXIS_NOTE + "."
)
HEATMAP_TOP = 25  # most frequent tags shown in heatmaps; rarer ones are noise at corpus scale


def sigma_heatmap(rd: pd.DataFrame, kind: str, sizes: list[str]) -> tuple[go.Figure, pd.DataFrame]:
    sub = rd[rd["kind"] == kind]
    top = (sub.groupby("category")["n_positions"].max().sort_values(ascending=False).head(HEATMAP_TOP).index)
    sub = sub[sub["category"].isin(top)]
    cats = list(sub.groupby("category")["n_positions"].max().sort_values().index)
    steps = sorted(sub["step"].unique())
    x = [str(s) for s in steps]
    fig = go.Figure()
    trace_sizes = []
    shown = sizes[-1]
    for size in sizes:
        g = sub[sub["size"] == size]
        if g.empty:
            continue
        z = g.pivot_table(index="category", columns="step", values="sigma").reindex(index=cats, columns=steps)
        fig.add_trace(go.Heatmap(
            z=np.log2(z.to_numpy(float)), x=x, y=cats, zmid=0, colorscale="RdBu_r", visible=size == shown,
            customdata=z.to_numpy(float), colorbar=dict(title="log2 sigma"),
            hovertemplate="%{y}, step %{x}: sigma %{customdata:.3f}<extra>" + size + "</extra>"))
        out = g[g["is_outlier"].astype(bool)]
        fig.add_trace(go.Scatter(
            x=out["step"].astype(str), y=out["category"], mode="markers", visible=size == shown,
            marker=dict(symbol="x-thin", size=9, line=dict(width=2, color="black")), name="outlier",
            showlegend=False, hovertemplate="outlier %{y}, step %{x}<extra></extra>"))
        trace_sizes += [size, size]
    fig.update_layout(**base_layout(f"Relative divergence sigma by POS(t), {KIND_LABEL[kind]}",
                                    height=max(360, 18 * len(cats) + 140),
                                    xaxis=dict(title="training step", type="category"),
                                    yaxis=dict(title="POS(t)", type="category")))
    size_dropdown(fig, trace_sizes, sizes)
    return fig, tidy(sub.sort_values(["size_rank", "category", "step"]),
                     ["kind", "size", "step", "step_b", "category", "n_positions", "mean_kl", "overall_kl", "sigma",
                      "is_outlier"])


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    ck = data.view("conditional_kl", "family IN ('pos_t', 'pos_prev') AND kind = %(kind)s", kind=kind)
    if ck.empty:
        raise Missing("no POS categories in conditional_kl (corpus added without a POS tagger?)")
    ck = merge_groups(ck)
    sizes = [s for s in data.scope.sizes if s in set(ck["size"])]
    for family, label in (("pos_t", "POS(t), the predicted token"), ("pos_prev", "POS(t-1), the context token")):
        fam = ck[ck["family"] == family]
        if fam.empty:
            sec.notes.append(f"no {family} categories")
            continue
        fig, plotted = category_panels(fam, POS_PANELS, sizes,
                                       f"Convergence by {label} ({KIND_LABEL[kind]})")
        sec.figures.append(Figure(f"pos-{family}", fig, tidy(plotted, [
            "panel", "family", "category", "kind", "size", "step", "n_comparisons", "n_positions", "mean_kl",
            "ci_low", "ci_high", "mean_ce"])))

    rd = data.view("relative_divergence", "family = 'pos_t'")
    outliers = []
    for k in ("seed_pair", "consecutive_step"):
        if rd.empty or k not in set(rd["kind"]):
            sec.notes.append(f"no relative divergence for {KIND_LABEL[k]}")
            continue
        fig, plotted = sigma_heatmap(rd, k, [s for s in sizes if s in set(rd["size"])] or sizes)
        sec.figures.append(Figure(f"pos-sigma-{k}", fig, plotted))
        outliers.append(plotted[plotted["is_outlier"].astype(bool)])
    out = pd.concat(outliers, ignore_index=True) if outliers else pd.DataFrame()
    if not out.empty:
        examples = data.query_file("example_tokens", corpus=data.scope.corpus, per_category=5)
        ex = (examples[examples["family"] == "pos_t"]
              .assign(shown=lambda d: d["token"].map(lambda t: repr(t)[1:-1].replace(" ", "\u2423")))
              .groupby("category")["shown"].agg(lambda s: "  ".join(s)))
        summary = (out.groupby(["kind", "category"], as_index=False)
                      .agg(outlier_steps=("step", "count"), min_sigma=("sigma", "min"), max_sigma=("sigma", "max")))
        summary["kind"] = summary["kind"].map(KIND_LABEL)
        summary["example_tokens"] = summary["category"].map(ex).fillna("")
        sec.tables.append(Table("pos-outliers", "Outlying POS(t) categories and example tokens",
                                summary.sort_values(["kind", "outlier_steps"], ascending=[True, False]),
                                caption="\u2423 marks a leading space; examples are the category's most "
                                        "frequent target tokens in the corpus."))
    return sec

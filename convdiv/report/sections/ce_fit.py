"""Cross-entropy fitting: per category, KL_c ~ alpha * Q + b with Q = dH or the CE ratio, pooled over pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from convdiv.analysis.fits import fit_categories
from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import base_layout, colour, tidy
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.sections._categories import GROUPED, NOUNS, VERBS

KEY = "ce-fit"
TITLE = "Cross-entropy fitting"
GUIDE = (
    "Does a category's divergence follow from how much its cross-entropy changes? For every checkpoint pair "
    "(a, b) and POS(t) category c, dH = H_c(a) - H_c(b) is the difference of mean surprisal over the category's "
    "positions and KL_c the mean KL between a and b there. Pooling all pairs over sizes, we fit "
    "KL_c = alpha * Q + b by OLS, with Q = dH and with Q = H_c(a) / H_c(b) (the CE ratio). The first figure shows "
    "the pairs and the fitted lines of the presentation's grouped categories; the table gives alpha, b, their "
    "95% intervals, R^2 and the number of pairs n for every category, sorted by alpha. The last figure puts every "
    "(pair, category) point's KL against dH: if low KL only ever occurs at dH near 0, a small change in "
    "cross-entropy is necessary (though not sufficient) for agreement."
)
SELECTED = GROUPED  # JJ, IN, DT, MD, PRP, nouns, verbs


def merge_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Add 'nouns' and 'verbs' per comparison: position-weighted means of ce_a, ce_b and KL over their tags."""
    out = [df]
    for name, tags in (("nouns", NOUNS), ("verbs", VERBS)):
        sub = df[df["category"].isin(tags)]
        if sub.empty:
            continue
        w = sub["n_positions"].astype(float)
        agg = (sub.assign(_w=w, _a=sub["ce_a"] * w, _b=sub["ce_b"] * w, _k=sub["mean_kl"] * w)
                  .groupby(["comparison_id", "kind", "size_a", "step_a", "step_b", "family"], as_index=False)
                  [["_w", "_a", "_b", "_k"]].sum())
        agg = agg.assign(category=name, n_positions=agg["_w"], ce_a=agg["_a"] / agg["_w"],
                         ce_b=agg["_b"] / agg["_w"], mean_kl=agg["_k"] / agg["_w"])
        agg["delta_h"] = agg["ce_a"] - agg["ce_b"]
        agg["ce_ratio"] = agg["ce_a"] / agg["ce_b"]
        out.append(agg.drop(columns=["_w", "_a", "_b", "_k"]))
    return pd.concat(out, ignore_index=True)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kinds = [k for k in data.kinds() if k != "seed_pair"] or ["seed_pair"]
    df = data.view("ce_difference", "family = 'pos_t' AND kind = ANY(%(kinds)s)", kinds=kinds)
    if df.empty:
        raise Missing("no ce_difference rows for POS(t) categories: ingest comparisons first")
    sec.notes.append(f"pairs pooled from {', '.join(KIND_LABEL[k] for k in kinds)} comparisons over all sizes")
    df = merge_pairs(df)
    fits = pd.concat([fit_categories(df, q="delta_h"), fit_categories(df, q="ce_ratio")], ignore_index=True)

    fig = make_subplots(rows=1, cols=2, subplot_titles=["Q = dH (nats)", "Q = CE ratio H(a)/H(b)"],
                        horizontal_spacing=0.08)
    shown = []
    for k, cat in enumerate([c for c in SELECTED if c in set(df["category"])]):
        g = df[df["category"] == cat]
        shown.append(g)
        for j, q in enumerate(("delta_h", "ce_ratio")):
            fig.add_trace(go.Scatter(
                x=g[q], y=g["mean_kl"], mode="markers", name=cat, legendgroup=cat, showlegend=j == 0,
                marker=dict(size=5, color=colour(k), opacity=0.55),
                hovertemplate=f"{cat}<br>Q %{{x:.4g}}<br>KL %{{y:.4g}}<extra></extra>"), row=1, col=j + 1)
            fit = fits[(fits["category"] == cat) & (fits["q"] == q)]
            if not fit.empty and np.isfinite(fit["alpha"].iloc[0]):
                xs = np.linspace(g[q].min(), g[q].max(), 2)
                a, b = fit["alpha"].iloc[0], fit["b"].iloc[0]
                fig.add_trace(go.Scatter(
                    x=xs, y=a * xs + b, mode="lines", legendgroup=cat, showlegend=False,
                    line=dict(color=colour(k), width=2), name=f"{cat} fit",
                    hovertemplate=f"{cat}: KL = {a:.3g} Q + {b:.3g} (R2 {fit['r2'].iloc[0]:.2f})<extra></extra>"),
                    row=1, col=j + 1)
    fig.update_yaxes(title_text="KL_c (nats)", row=1, col=1)
    fig.update_layout(**base_layout("KL_c against the change in cross-entropy, with OLS fits", height=460))
    points = pd.concat(shown, ignore_index=True) if shown else df.iloc[:0]
    sec.figures.append(Figure("ce-fit-scatter", fig, tidy(points, [
        "category", "comparison_id", "kind", "size_a", "size_b", "seed_a", "seed_b", "step_a", "step_b",
        "n_positions", "ce_a", "ce_b", "delta_h", "ce_ratio", "mean_kl"])))

    base = df[~df["category"].isin(("nouns", "verbs"))]
    fig2 = go.Figure(go.Scatter(
        x=base["delta_h"], y=base["mean_kl"], mode="markers", marker=dict(size=4, opacity=0.4, color="#1f77b4"),
        text=base["category"], hovertemplate="%{text}<br>dH %{x:.4g}<br>KL %{y:.4g}<extra></extra>"))
    fig2.update_layout(**base_layout("KL against dH for every pair and POS(t) category", height=420,
                                     xaxis=dict(title="dH = H(a) - H(b) (nats)", zeroline=True),
                                     yaxis=dict(title="KL_c (nats)", type="log")))
    sec.figures.append(Figure("ce-fit-kl-vs-dh", fig2, tidy(base, [
        "category", "comparison_id", "kind", "size_a", "step_a", "step_b", "n_positions", "delta_h", "mean_kl"])))

    table = fits.drop(columns=["family"]).rename(columns={"q": "Q"})
    table["Q"] = table["Q"].map({"delta_h": "dH", "ce_ratio": "CE ratio"})
    sec.tables.append(Table("ce-fit-table", "Fits per category, sorted by alpha", table,
                            caption="alpha, b: OLS slope and intercept with 95% intervals; n: pairs pooled."))
    return sec

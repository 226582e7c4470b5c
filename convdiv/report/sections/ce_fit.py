"""Cross-entropy fitting: per category, KL_c ~ alpha * Q + b with Q = dH or the CE ratio, pooled over pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from convdiv.analysis.findings import NECESSARY_SHARE, STUDY_ALPHA_PCT, necessity_account, study_alpha_account
from convdiv.analysis.fits import SEED_INTERVAL, fit_categories, necessary_condition
from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import base_layout, legend_ref, log_axis, panel_legends, tag_colour, tidy
from convdiv.report.groupings import PTB, Groupings
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.warehouse import names

KEY = "ce-fit"
TITLE = "Cross-entropy fitting"
GUIDE = (
    "Does a category's divergence follow from how much its cross-entropy changes? For every pair of consecutive "
    "checkpoints of a run (t -> t_next; the study's pairs) and POS(t) category c, dH = H_c(t) - H_c(t_next) is "
    "the difference of mean surprisal over the category's positions and KL_c the mean KL between the two "
    "checkpoints there. Pooling the pairs of every run and size, we fit KL_c = alpha * Q + b by OLS, with Q = dH "
    "and with Q = H_c(t) / H_c(t_next) (the CE ratio). The first figure shows the pairs and the fitted lines of the "
    "presentation's grouped categories; the table gives alpha (also x100 in %, as the slides print it), b, their "
    "95% intervals over seeds (the line refitted without each seed's runs: a run's pairs are not independent), "
    "R^2, the number of pairs n and of seeds for every category, sorted by alpha. The notes compare the "
    "categories the study reports with its values. The last figure puts every (pair, category) point's KL against "
    "dH; the table below it and the notes measure the presentation's statement that a low cross-entropy "
    "difference is necessary for low KL, per size and step (rule: necessary when at least "
    f"{NECESSARY_SHARE:.0%} of the low-KL points have a small |dH|; degenerate when nearly all low-KL points lie "
    "in the uniform phase). Other comparison kinds enter the fit only when asked (`convdiv report "
    "--ce-fit-kinds`), and the note names the kinds pooled."
)
SELECTED = PTB.grouped  # JJ, IN, DT, MD, PRP, nouns, verbs (a UPOS corpus: ReportData.groupings.grouped)
FAMILY_LABEL = {"pos_t": "POS(t)", "pos_prev": "POS(t-1)"}


def merge_pairs(df: pd.DataFrame, groupings: Groupings = PTB) -> pd.DataFrame:
    """Add 'nouns' and 'verbs' per comparison: position-weighted means of ce_a, ce_b and KL over their tags."""
    out = [df]
    for name, tags in groupings.merged.items():
        sub = df[df["category"].isin(tags)]
        if sub.empty:
            continue
        w = sub["n_positions"].astype(float)
        agg = (
            sub.assign(_w=w, _a=sub["ce_a"] * w, _b=sub["ce_b"] * w, _k=sub["mean_kl"] * w)
            .groupby(
                ["comparison_id", "kind", "size_a", "seed_a", "seed_b", "step_a", "step_b", "family"], as_index=False
            )[["_w", "_a", "_b", "_k"]]
            .sum()
        )
        agg = agg.assign(
            category=name,
            n_positions=agg["_w"],
            ce_a=agg["_a"] / agg["_w"],
            ce_b=agg["_b"] / agg["_w"],
            mean_kl=agg["_k"] / agg["_w"],
        )
        agg["delta_h"] = agg["ce_a"] - agg["ce_b"]
        agg["ce_ratio"] = agg["ce_a"] / agg["ce_b"]
        out.append(agg.drop(columns=["_w", "_a", "_b", "_k"]))
    return pd.concat(out, ignore_index=True)


def fit_pairs(data: ReportData, family: str) -> tuple[pd.DataFrame, str]:
    """The ce_difference rows of ``family`` for the kinds the options pool, and the label of those kinds."""
    kinds = list(data.options.ce_fit_kinds)
    label = ", ".join(KIND_LABEL[k] for k in kinds)
    df = data.view(names.CE_DIFFERENCE, "family = %(family)s AND kind = ANY(%(kinds)s)", family=family, kinds=kinds)
    if df.empty:
        raise Missing(
            f"no ce_difference rows for {FAMILY_LABEL[family]} categories and {label} comparisons: "
            "ingest consecutive steps (the default), or choose kinds with `convdiv report --ce-fit-kinds`"
        )
    return df, label


def points_caption(points: pd.DataFrame, what: str) -> str:
    """n seeds, pairs and (pair, category) points of a scatter figure, and what its lines or intervals are."""
    n_seeds = len(set(points["seed_a"]) | set(points["seed_b"])) if len(points) else 0
    return (
        f"n: {n_seeds} seed{'' if n_seeds == 1 else 's'}, {points['comparison_id'].nunique():,} pairs of checkpoints, {len(points):,} "
        f"(pair, category) points, {int(points['n_positions'].min()) if len(points) else 0:,}-"
        f"{int(points['n_positions'].max()) if len(points) else 0:,} positions per point; {what}."
    )


def fit_table(fits: pd.DataFrame, kinds_label: str) -> pd.DataFrame:
    table = fits.drop(columns=["family"]).rename(columns={"q": "Q"})
    table["Q"] = table["Q"].map({"delta_h": "dH", "ce_ratio": "CE ratio"})
    # The slides print alpha x 100 as a percentage (NNP in context: 394.09%).
    alpha = table.columns.get_loc("alpha")
    assert isinstance(alpha, int)  # the position of a unique column
    table.insert(
        alpha + 1,
        "alpha_pct",
        table["alpha"].map(lambda a: f"{100 * a:.2f}%" if np.isfinite(a) else ""),
    )
    table["pairs"] = kinds_label
    return table


def fit_figure(df: pd.DataFrame, fits: pd.DataFrame, cats: list[str], title: str) -> go.Figure:
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=["Q = dH (nats)", "Q = CE ratio H(a)/H(b)"], horizontal_spacing=0.2
    )
    for cat in cats:
        g = df[df["category"] == cat]
        for j, q in enumerate(("delta_h", "ce_ratio")):
            fig.add_trace(
                go.Scatter(
                    x=g[q],
                    y=g["mean_kl"],
                    mode="markers",
                    name=cat,
                    legendgroup=f"{q}:{cat}",
                    legend=legend_ref(j),
                    marker=dict(size=5, color=tag_colour(cat), opacity=0.55),
                    hovertemplate=f"{cat}<br>Q %{{x:.4g}}<br>KL %{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=j + 1,
            )
            fit = fits[(fits["category"] == cat) & (fits["q"] == q)]
            if not fit.empty and np.isfinite(fit["alpha"].iloc[0]):
                xs = np.linspace(g[q].min(), g[q].max(), 2)
                a, b = fit["alpha"].iloc[0], fit["b"].iloc[0]
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=a * xs + b,
                        mode="lines",
                        legendgroup=f"{q}:{cat}",
                        legend=legend_ref(j),
                        showlegend=False,
                        line=dict(color=tag_colour(cat), width=2),
                        name=f"{cat} fit",
                        hovertemplate=f"{cat}: KL = {a:.3g} Q + {b:.3g} (R2 {fit['r2'].iloc[0]:.2f})<extra></extra>",
                    ),
                    row=1,
                    col=j + 1,
                )
    fig.update_xaxes(title_text="dH = H(a) - H(b) (nats)", row=1, col=1)
    fig.update_xaxes(title_text="H(a) / H(b)", row=1, col=2)
    fig.update_yaxes(title_text="KL_c (nats)", row=1, col=1)
    fig.update_yaxes(title_text="KL_c (nats)", row=1, col=2)
    fig.update_layout(**base_layout(title, height=460, margin=dict(l=60, r=120, t=60, b=50)))
    panel_legends(fig, 2, 2)
    return fig


def build_family(sec: Section, data: ReportData, family: str, prefix: str, selected: list[str] | None) -> pd.DataFrame:
    """Figures and the fit table of one category family; returns the (merged) pairs."""
    df, kinds_label = fit_pairs(data, family)
    sec.notes.append(f"pairs pooled from {kinds_label} comparisons over all sizes")
    if family == "pos_t":
        df = merge_pairs(df, data.groupings)
    seeds = ("seed_a", "seed_b")
    fits = pd.concat(
        [fit_categories(df, q="delta_h", seeds=seeds), fit_categories(df, q="ce_ratio", seeds=seeds)],
        ignore_index=True,
    )
    if data.tagset != "ptb":
        study_tags = ", ".join(cat for fam, cat in STUDY_ALPHA_PCT if fam == family)
        sec.notes.append(
            f"the study's alphas are for Penn Treebank tags ({study_tags}); this corpus has {data.groupings.label}, "
            "so they are not compared"
        )
    for (fam, cat), study in STUDY_ALPHA_PCT.items():
        ours = fits[(fits["category"] == cat) & (fits["q"] == "delta_h")] if fam == family else fits.iloc[:0]
        if len(ours) and data.tagset == "ptb":
            sec.notes.append(f"{FAMILY_LABEL[family]} = {cat}, Q = dH: {study_alpha_account(ours.iloc[0], study)}")
    present = set(df["category"])
    if selected is None:
        # the most frequent context tags (by positions in one comparison), as many as one panel keeps apart
        top = df.groupby("category")["n_positions"].max().sort_values(ascending=False).head(8).index
        selected = list(top)
    cats = [c for c in selected if c in present]
    label = FAMILY_LABEL[family]
    fig = fit_figure(
        df, fits, cats, f"KL_c against the change in cross-entropy by {label}, with OLS fits ({kinds_label})"
    )
    points = df[df["category"].isin(cats)]
    sec.figures.append(
        Figure(
            f"{prefix}-scatter",
            fig,
            tidy(
                points,
                [
                    "category",
                    "comparison_id",
                    "kind",
                    "size_a",
                    "size_b",
                    "seed_a",
                    "seed_b",
                    "step_a",
                    "step_b",
                    "n_positions",
                    "ce_a",
                    "ce_b",
                    "delta_h",
                    "ce_ratio",
                    "mean_kl",
                ],
            ),
            caption=points_caption(
                points,
                "lines: the OLS fits; alpha's 95% interval over seeds is in the table"
                if fits["alpha_low"].notna().any()
                else "lines: the OLS fits; no interval for alpha: an interval over seeds needs at least 2 seeds",
            ),
        )
    )
    sec.tables.append(
        Table(
            f"{prefix}-table",
            f"Fits per {label} category, sorted by alpha",
            fit_table(fits, kinds_label),
            caption=f"alpha, b: OLS slope and intercept; their intervals: {SEED_INTERVAL} (interval column; "
            "empty with fewer than 2 seeds: no interval rather than the OLS one, which takes the pairs of a run as "
            "independent); alpha_pct: alpha x 100 as the slides print it; n: pairs "
            "pooled, n_seeds: seeds among them.",
        )
    )
    return df


def uniform_ends(data: ReportData) -> dict[str, int]:
    """Per size, the step where the uniform phase ends (phase_boundaries; the same for every comparison kind)."""
    try:
        pb = data.view(names.PHASE_BOUNDARIES)
    except Missing:
        return {}
    ends = pb.groupby("size")["uniform_end_step"].min().dropna()
    return {str(k): int(v) for k, v in ends.items()}


def necessity_notes(data: ReportData, base: pd.DataFrame) -> list[str]:
    """Per size, the necessary-condition statement measured (analysis.findings.necessity_account)."""
    ends = uniform_ends(data)
    notes = []
    for _, r in necessary_condition(base, by=("size_a",)).iterrows():
        points = base[(base["size_a"] == r["size_a"]) & (base["mean_kl"] <= r["kl_threshold"])]
        sentence = necessity_account(r, points["step_a"], ends.get(str(r["size_a"])))
        notes.append(f"size {r['size_a']}: {sentence}")
    return notes


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    df = build_family(sec, data, "pos_t", "ce-fit", list(data.groupings.grouped))

    base = df[~df["category"].isin(("nouns", "verbs"))]
    fig2 = go.Figure(
        go.Scatter(
            x=base["delta_h"],
            y=base["mean_kl"],
            mode="markers",
            marker=dict(size=4, opacity=0.4, color="#1f77b4"),
            text=base["category"],
            name="(pair, POS(t)) points",
            showlegend=True,
            hovertemplate="%{text}<br>dH %{x:.4g}<br>KL %{y:.4g}<extra></extra>",
        )
    )
    fig2.update_layout(
        **base_layout(
            "KL against dH for every pair and POS(t) category",
            height=420,
            xaxis=dict(title="dH = H(a) - H(b) (nats)", zeroline=True),
            yaxis=log_axis("KL_c (nats)"),
        )
    )
    sec.figures.append(
        Figure(
            "ce-fit-kl-vs-dh",
            fig2,
            tidy(
                base,
                [
                    "category",
                    "comparison_id",
                    "kind",
                    "size_a",
                    "step_a",
                    "step_b",
                    "n_positions",
                    "delta_h",
                    "mean_kl",
                ],
            ),
            caption=points_caption(base, "no interval: every point is one (pair, category)"),
        )
    )

    need = necessary_condition(base)
    if not need.empty:
        sec.notes.extend(necessity_notes(data, base))
        sec.tables.append(
            Table(
                "ce-fit-necessity",
                "Low KL needs a small |dH|? per size and step",
                need.rename(columns={"size_a": "size", "step_a": "step"}),
                caption="low KL: KL_c <= the size's lower quartile (kl_threshold); small |dH|: |dH_c| <= the size's "
                "median (dh_threshold). share_low_kl_with_small_dh near 1 = necessary; "
                "share_small_dh_with_low_kl < 1 = not sufficient. Empty shares: no such point at that step.",
            )
        )
    return sec

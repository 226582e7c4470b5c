"""By part of speech: conditional convergence for POS(t) and POS(t-1), and relative divergence heatmaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from convdiv.analysis.intervals import INTERVAL_KIND, MARK_WORDS
from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import STEP_AXIS_NOTE, base_layout, sigma_colour_range, size_dropdown, tidy
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.report.sections._categories import PANEL_COLUMNS, category_panels, merge_groups
from convdiv.report.uncertainty import BAND, MARK_RULE, caption, marked, with_intervals
from convdiv.warehouse import names, queries

KEY = "pos"
TITLE = "By part of speech"
GUIDE = (
    "Convergence -E[KL] restricted to the positions whose predicted token has a given part of speech, POS(t), or "
    "whose context token has it, POS(t-1), one size at a time (menu). Panels follow the presentation's groupings: "
    "nouns (NN, NNS, NNP, NNPS), verbs (VB, VBD, VBG, VBN, VBZ: the study's verbs, without VBP), other "
    "function and content tags (with VBP), and a grouped view where 'nouns' and 'verbs' are merged tags (their "
    "position-weighted mean per comparison); for a corpus tagged with Universal POS (`corpus add --tagset upos`, "
    "named in the notes) the nearest UPOS tags: nouns NOUN, PROPN; verbs VERB, AUX; grouped ADJ, ADP, DET, AUX, "
    "PRON. Bands are 95% intervals over seeds (jackknife-t; the captions give n). "
    "The heatmaps show relative divergence sigma = E[KL | category] / E[KL] per category and step: red above 1 "
    "(the category diverges more than average), blue below; crosses mark cells outside the view's outlier band "
    "(default [0.8, 1.25]); rings mark cells whose 95% interval over seeds excludes 1 and where "
    f"{MARK_WORDS} (a smaller difference is not called one). For consecutive steps sigma "
    "is the study's learnability analysis (how much a category's predictions still change between checkpoints). "
    "The last table gives example tokens of every flagged category. The same heatmap for POS(t-1) is the next "
    "section. " + STEP_AXIS_NOTE + "."
)
HEATMAP_TOP = 25  # most frequent tags shown in heatmaps; rarer ones are noise at corpus scale


FAMILY_LABEL = {"pos_t": "POS(t)", "pos_prev": "POS(t-1)"}


def sigma_heatmap(
    rd: pd.DataFrame, kind: str, sizes: list[str], family: str = "pos_t", iv: pd.DataFrame | None = None
) -> tuple[go.Figure, pd.DataFrame]:
    """Heatmap of log2 sigma per category and step (one size at a time), crosses on the view's band outliers and
    rings on the cells that the interval over seeds marks (analysis.intervals: the interval excludes 1 and the
    effect passes MIN_SIGMA_RATIO); the plotted rows carry the interval columns."""
    sub = sigma_cells(rd, kind, family, iv)
    cats = list(sub.groupby("category")["n_positions"].max().sort_values().index)
    steps = sorted(sub["step"].unique())
    label = FAMILY_LABEL.get(family, family)
    fig = go.Figure()
    trace_sizes = []
    shown = sizes[-1]
    for size in sizes:
        g = sub[sub["size"] == size]
        if g.empty:
            continue
        fig.add_traces(size_traces(g, cats, steps, size, visible=size == shown))
        trace_sizes += [size, size, size]
    fig.update_layout(
        **base_layout(
            f"Relative divergence sigma by {label}, {KIND_LABEL[kind]}",
            height=max(380, 18 * len(cats) + 160),
            xaxis=dict(title="training step", type="category"),
            yaxis=dict(title=label, type="category"),
            legend=dict(orientation="h", x=0, y=-0.12, xanchor="left", yanchor="top"),
        )
    )
    size_dropdown(fig, trace_sizes, sizes)
    return fig, tidy(sub.sort_values(["size_rank", "category", "step"]), HEATMAP_COLUMNS)


# the columns of a sigma heatmap's CSV
HEATMAP_COLUMNS = [
    "kind",
    "family",
    "size",
    "step",
    "step_b",
    "category",
    "n_positions",
    "mean_kl",
    "overall_kl",
    "sigma",
    "is_outlier",
    "n_seeds",
    "sigma_low",
    "sigma_high",
    "interval_excludes_1",
    "marked",
    "sigma_per_pair",
    "is_outlier_per_pair",
]


def sigma_cells(rd: pd.DataFrame, kind: str, family: str, iv: pd.DataFrame | None) -> pd.DataFrame:
    """The view's sigma cells of one kind and family with the intervals over seeds and the marks, for the
    HEATMAP_TOP categories with the most positions."""
    sub = rd[(rd["kind"] == kind) & (rd["family"] == family)].drop(
        columns=["sigma_per_pair", "is_outlier_per_pair"], errors="ignore"
    )
    if iv is not None and not iv.empty:
        b = iv[iv["family"] == family][
            ["size", "step", "category", "n_seeds", "sigma_low", "sigma_high", "sigma_per_pair"]
        ]
        sub = sub.merge(b, on=["size", "step", "category"], how="left")
        # the study's per-pair sigma against the same band (docs/sql.md, Differences from the study)
        sub["is_outlier_per_pair"] = (sub["sigma_per_pair"] < sub["band_low"]) | (
            sub["sigma_per_pair"] > sub["band_high"]
        )
    else:
        sub = sub.assign(n_seeds=np.nan, sigma_low=np.nan, sigma_high=np.nan)
    sub["interval_excludes_1"] = (sub["sigma_low"] > 1) | (sub["sigma_high"] < 1)
    sub["marked"] = marked(sub)
    top = sub.groupby("category")["n_positions"].max().sort_values(ascending=False).head(HEATMAP_TOP).index
    return sub[sub["category"].isin(top)]


def size_traces(g: pd.DataFrame, cats: list, steps: list, size: str, visible: bool) -> list:
    """One size's three traces: the log2 sigma heatmap, crosses on band outliers, rings on marked cells."""
    x = [str(s) for s in steps]
    z = g.pivot_table(index="category", columns="step", values="sigma").reindex(index=cats, columns=steps)
    lo = g.pivot_table(index="category", columns="step", values="sigma_low").reindex(index=cats, columns=steps)
    hi = g.pivot_table(index="category", columns="step", values="sigma_high").reindex(index=cats, columns=steps)
    heatmap = go.Heatmap(
        z=np.log2(z.to_numpy(float)),
        x=x,
        y=cats,
        visible=visible,
        customdata=np.dstack([z.to_numpy(float), lo.to_numpy(float), hi.to_numpy(float)]),
        **sigma_colour_range(),
        hovertemplate="%{y}, step %{x}: sigma %{customdata[0]:.3f} (95% interval over seeds "
        "%{customdata[1]:.3f} to %{customdata[2]:.3f})<extra>" + size + "</extra>",
    )
    out = g[g["is_outlier"].astype(bool)]
    outliers = go.Scatter(
        x=out["step"].astype(str),
        y=out["category"],
        mode="markers",
        visible=visible,
        marker=dict(symbol="x-thin", size=9, color="black", line=dict(width=2, color="black")),
        name="outside the band",
        showlegend=visible,
        legendgroup="band",
        hovertemplate="outlier %{y}, step %{x}<extra></extra>",
    )
    ex = g[g["marked"]]
    rings = go.Scatter(
        x=ex["step"].astype(str),
        y=ex["category"],
        mode="markers",
        visible=visible,
        marker=dict(symbol="circle-open", size=13, color="#222222", line=dict(width=1.5, color="#222222")),
        name=f"interval excludes 1, {MARK_WORDS}",
        showlegend=visible,
        legendgroup="marked",
        hovertemplate=f"%{{y}}, step %{{x}}: sigma's interval excludes 1 and {MARK_WORDS}<extra></extra>",
    )
    return [heatmap, outliers, rings]


def sigma_intervals(data: ReportData, family: str, sec: Section) -> pd.DataFrame:
    """The report's intervals over seeds of sigma for one family, both kinds, with a note where there are none."""
    iv = data.seed_intervals
    iv = iv[iv["family"] == family]
    if iv.empty or iv["sigma_low"].isna().all():
        sec.notes.append("no intervals for sigma: they need at least 3 seeds for seed pairs (2 for consecutive steps)")
    return iv


def heatmap_caption(plotted: pd.DataFrame, kind: str) -> str:
    return caption(
        plotted,
        kind,
        f"sigma's interval: {INTERVAL_KIND}",
        positions="positions per category and comparison",
        extra=[MARK_RULE, "crosses: sigma outside the view's outlier band"],
    )


def outlier_table(data: ReportData, frames: list[pd.DataFrame], family: str, key: str) -> Table | None:
    """Categories outside the band or marked (interval excludes 1, effect >= MIN_SIGMA_RATIO), with example tokens."""
    plotted = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if plotted.empty:
        return None
    flagged = plotted[plotted["is_outlier"].astype(bool) | plotted["marked"].astype(bool)]
    if flagged.empty:
        return None
    examples = data.lookup(names.EXAMPLE_TOKENS, "rank <= 5", corpus=data.scope.corpus).sort_values(
        ["family", "category", "rank"]
    )
    ex = (
        examples[examples["family"] == family]
        .assign(shown=lambda d: d["token"].map(lambda t: repr(t)[1:-1].replace(" ", "\u2423")))
        .groupby("category")["shown"]
        .agg(lambda s: "  ".join(s))
    )
    summary = (
        flagged.assign(_band=flagged["is_outlier"].astype(bool), _mark=flagged["marked"].astype(bool))
        .groupby(["kind", "category"], as_index=False)
        .agg(
            band_outlier_steps=("_band", "sum"),
            marked_steps=("_mark", "sum"),
            min_sigma=("sigma", "min"),
            max_sigma=("sigma", "max"),
        )
    )
    summary["kind"] = summary["kind"].map(KIND_LABEL)
    summary["example_tokens"] = summary["category"].map(ex).fillna("")
    label = FAMILY_LABEL[family]
    return Table(
        key,
        f"Outlying {label} categories and example tokens",
        summary.sort_values(["kind", "band_outlier_steps"], ascending=[True, False]),
        caption="band_outlier_steps: steps with sigma outside the view's band; marked_steps: steps where sigma's "
        f"95% interval over seeds excludes 1 and {MARK_WORDS} (the rings). \u2423 marks a "
        "leading space; examples are the category's most frequent tokens in the corpus.",
    )


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    ck = data.view(names.CONDITIONAL_KL, "family IN ('pos_t', 'pos_prev') AND kind = %(kind)s", kind=kind)
    if ck.empty:
        raise Missing("no POS categories in conditional_kl (corpus added without a POS tagger?)")
    groupings = data.groupings
    sec.notes.append(tagset_note(data))
    ck = with_intervals(data, merge_groups(ck, groupings), kind, ("pos_t", "pos_prev"), on_category=True)
    sizes = [s for s in data.scope.sizes if s in set(ck["size"])]
    for family, label in (("pos_t", "POS(t), the predicted token"), ("pos_prev", "POS(t-1), the context token")):
        fam = ck[ck["family"] == family]
        if fam.empty:
            sec.notes.append(f"no {family} categories")
            continue
        fig, plotted = category_panels(fam, groupings.panels, sizes, f"Convergence by {label} ({KIND_LABEL[kind]})")
        sec.figures.append(
            Figure(
                f"pos-{family}",
                fig,
                tidy(plotted, PANEL_COLUMNS),
                caption=caption(plotted, kind, BAND, positions="positions per category and comparison"),
            )
        )

    rd = data.view(names.RELATIVE_DIVERGENCE, "family = 'pos_t'")
    iv = sigma_intervals(data, "pos_t", sec)
    frames = []
    for k in ("seed_pair", "consecutive_step"):
        if rd.empty or k not in set(rd["kind"]):
            sec.notes.append(f"no relative divergence for {KIND_LABEL[k]}")
            continue
        kiv = iv[iv["kind"] == k]
        fig, plotted = sigma_heatmap(rd, k, [s for s in sizes if s in set(rd["size"])] or sizes, "pos_t", kiv)
        sec.figures.append(Figure(f"pos-sigma-{k}", fig, plotted, caption=heatmap_caption(plotted, k)))
        frames.append(plotted)
    table = outlier_table(data, frames, "pos_t", "pos-outliers")
    if table is not None:
        sec.tables.append(table)
    sec.tables.append(tag_count_table(data))
    return sec


def tagset_note(data: ReportData) -> str:
    """Which tagset POS(t) and POS(t-1) are in (corpus_summary.tagset), and the panels that follow from it."""
    g = data.groupings
    return (
        f"POS tags: {g.label}, as corpus {data.scope.corpus} was added; nouns = {', '.join(g.nouns)}, "
        f"verbs = {', '.join(g.verbs)}"
    )


def tag_count_table(data: ReportData) -> Table:
    """Positions per tag as POS(t) and as POS(t-1), their shares of all positions, the untagged row last; the
    caption names the tagger and its version (corpus_summary.spacy_model) and the alignment rule."""
    counts = data.query(queries.WAREHOUSE["tag_counts"], {"corpus": data.scope.corpus})
    tagged = counts.dropna(subset=["tag"])
    wide = tagged.pivot_table(index="tag", columns="factor", values="n_positions", aggfunc="sum")
    untagged = counts[counts["tag"].isna()].set_index("factor")["n_positions"]
    total = float(counts[counts["factor"] == "pos_t"]["n_positions"].sum())
    frame = pd.DataFrame(
        {
            "tag": [*wide.index, "(untagged)"],
            "positions_pos_t": [*wide.get("pos_t", pd.Series(dtype=float)).reindex(wide.index), untagged.get("pos_t")],
            "positions_pos_prev": [
                *wide.get("pos_prev", pd.Series(dtype=float)).reindex(wide.index),
                untagged.get("pos_prev"),
            ],
        }
    ).fillna(0)
    frame = pd.concat(
        [frame.iloc[:-1].sort_values("positions_pos_t", ascending=False), frame.iloc[-1:]], ignore_index=True
    )
    for col in ("pos_t", "pos_prev"):
        frame[f"positions_{col}"] = frame[f"positions_{col}"].astype(int)
        frame[f"share_{col}"] = frame[f"positions_{col}"] / total if total else np.nan
    frame = frame[["tag", "positions_pos_t", "share_pos_t", "positions_pos_prev", "share_pos_prev"]]
    corpus = data.lookup(names.CORPUS_SUMMARY, corpus=data.scope.corpus)
    tagger = str(corpus["spacy_model"].iloc[0]) if not corpus.empty else "unknown"
    return Table(
        "pos-tag-counts",
        "Positions per POS tag",
        frame,
        caption=(
            f"{int(total):,} positions of {data.scope.corpus}, tagged by spaCy {tagger} (model and version recorded "
            f"at `convdiv corpus add`) with {data.groupings.label}; a token takes the tag of the word covering most of its non-space "
            "characters; whitespace and special tokens are untagged (no category). The study tagged with NLTK "
            "(word_tokenize + the averaged perceptron; docs/sql.md, Differences from the study)."
        ),
        float_format="{:.4f}",
    )

"""Token tables: the tokens that diverge least and most at the last step, per size."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from convdiv.report.data import KIND_LABEL, ReportData
from convdiv.report.figures import base_layout, size_dropdown, tidy
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.warehouse import names

KEY = "tokens"
TITLE = "Token tables"
GUIDE = (
    "Vocabulary items ranked by their mean KL at the last ingested step of each size (averaged over their "
    "occurrences in the corpus and over comparisons). Only tokens that occur at least a few times are ranked, so "
    "that one odd context does not decide. The figure shows, for the size chosen in the menu, the most "
    "diverging tokens (top) and the least (bottom); the tables list them per size with their occurrence counts "
    "and mean surprisal. \u2423 marks a leading space."
)
TOP = 15


def _shown(token: str) -> str:
    return repr(str(token))[1:-1].replace(" ", "\u2423")


def tokens_caption(df: pd.DataFrame, min_occ: int, kind: str, n_seeds: int) -> str:
    """n comparisons and tokens ranked, and that a token's mean has no interval."""
    comps = df["n_comparisons"]
    span = f"{int(comps.min()):,}" if comps.nunique() <= 1 else f"{int(comps.min()):,}-{int(comps.max()):,}"
    return (
        (
            f"n: {n_seeds} seed{'' if n_seeds == 1 else 's'}, {span} {KIND_LABEL[kind]} per size at its last step, {df['token_id'].nunique():,} tokens with at least "
            f"{min_occ} occurrence(s) ranked; each bar is a token's mean KL over its occurrences and the comparisons "
            "(no interval)."
        )
        if len(df)
        else "n: no tokens ranked."
    )


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    kind, note = data.preferred_kind()
    if note:
        sec.notes.append(note)
    # The last step per size comes from the small expected_kl view, so that only those steps of the (large)
    # token_divergence aggregate are read.
    curves = data.view(names.EXPECTED_KL, "kind = %(kind)s", kind=kind)
    last_steps = sorted({int(s_) for s_ in curves.groupby("size")["step"].max()}) if not curves.empty else []
    df = data.view(names.TOKEN_DIVERGENCE, "kind = %(kind)s AND step = ANY(%(steps)s)", kind=kind, steps=last_steps)
    if df.empty:
        raise Missing("no token_divergence rows (the materialised view is refreshed at the end of an ingest)")
    last = df["size"].map(curves.groupby("size")["step"].max())
    df = df[df["step"] == last]
    min_occ = 3 if (df["occurrences"] >= 3).sum() >= 2 * TOP else 1
    df = df[df["occurrences"] >= min_occ].assign(shown=lambda d: d["token"].map(_shown))
    sizes = [s for s in data.scope.sizes if s in set(df["size"])]
    fig = go.Figure()
    trace_sizes, frames = [], []
    for size in sizes:
        g = df[df["size"] == size].sort_values("mean_kl")
        least, most = g.head(TOP), g.tail(TOP)
        ranked = pd.concat([least.assign(rank="least"), most.assign(rank="most")]).drop_duplicates("token_id")
        frames.append(ranked)
        for part, col in (("most", "#d62728"), ("least", "#2ca02c")):
            p = ranked[ranked["rank"] == part]
            fig.add_trace(
                go.Bar(
                    x=p["mean_kl"],
                    y=[f"{t} " for t in p["shown"]],
                    orientation="h",
                    name=f"{part} diverging",
                    marker_color=col,
                    visible=size == sizes[-1],
                    customdata=p["occurrences"],
                    hovertemplate="%{y}: mean KL %{x:.4g}, %{customdata} occurrences<extra>" + size + "</extra>",
                )
            )
            trace_sizes.append(size)
        step = int(g["step"].iloc[0]) if len(g) else None
        for part, rows in (("least", least), ("most", most.iloc[::-1])):
            sec.tables.append(
                Table(
                    f"tokens-{size}-{part}",
                    f"{size} (step {step}): {part} diverging tokens",
                    rows[["shown", "token_id", "occurrences", "mean_kl", "mean_ce"]].rename(columns={"shown": "token"}),
                )
            )
    fig.update_layout(
        **base_layout(
            f"Most and least diverging tokens at the last step ({KIND_LABEL[kind]})",
            height=max(420, 18 * 2 * TOP + 120),
            xaxis=dict(title="mean KL (nats)", type="linear", rangemode="tozero"),
            yaxis=dict(type="category", automargin=True),
            barmode="overlay",
        )
    )
    size_dropdown(fig, trace_sizes, sizes)
    plotted = pd.concat(frames, ignore_index=True) if frames else df.iloc[:0]
    sec.figures.append(
        Figure(
            "tokens-ranked",
            fig,
            tidy(
                plotted,
                ["size", "step", "rank", "token_id", "token", "occurrences", "n_comparisons", "mean_kl", "mean_ce"],
            ),
            caption=tokens_caption(df, min_occ, kind, data.max_seeds),
        )
    )
    if min_occ > 1:
        sec.notes.append(f"ranked tokens occur at least {min_occ} times")
    return sec

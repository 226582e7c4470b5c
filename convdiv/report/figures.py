"""Plotly helpers shared by the sections: the step axis, size colours, line+band traces, size dropdowns.

The step axis is logarithmic, but step 0 (the initialisation) has no logarithm: every step is plotted at
x = step + 1 and the tick labels show the real step, so step 0 sits at the left edge (the guides say so).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

STEP_OFFSET = 1
STEP_AXIS_NOTE = "x axis: log scale of step + 1, so that step 0 (initialisation) is visible at the left edge"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# Categories of one panel each get their own colour: the ten above, then Dark24's that differ from them (a panel
# of the "other" POS tags has 10 lines, a heatmap's outliers up to 25).
CATEGORY_PALETTE = tuple(PALETTE) + tuple(c for c in qualitative.Dark24 if c.lower() not in PALETTE)
PRESENTATION_PHASE_COLOURS = {
    "uniform": "rgba(150,150,150,0.15)",
    "functional universality": "rgba(44,160,44,0.12)",
    "unigram transition": "rgba(255,127,14,0.14)",
    "contextual learning": "rgba(31,119,180,0.10)",
}
PHASE_COLOURS = {
    "uniform": "rgba(150,150,150,0.15)",
    "sharp convergence": "rgba(44,160,44,0.12)",
    "sharp divergence": "rgba(214,39,40,0.12)",
    "slow reconvergence": "rgba(31,119,180,0.10)",
}


# plotly_white's look without its trace defaults: validating the full built-in template cost ~80 ms per layout
# update (measured), a tenth of the report's time at paper scale.
LIGHT_TEMPLATE = go.layout.Template(
    layout=dict(
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=dict(color="#2a3f5f"),
        colorway=list(PALETTE),
        xaxis=dict(gridcolor="#ebf0f8", linecolor="#ebf0f8", zerolinecolor="#ebf0f8", ticks="", automargin=True),
        yaxis=dict(gridcolor="#ebf0f8", linecolor="#ebf0f8", zerolinecolor="#ebf0f8", ticks="", automargin=True),
    )
)


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def category_colour(i: int) -> str:
    """The i-th category's colour within one panel (distinct for up to len(CATEGORY_PALETTE) categories)."""
    return CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)]


# One colour per category across every panel of the report: the PTB tags (and the merged groups) in a fixed order,
# each its own entry of TAG_PALETTE (CATEGORY_PALETTE, then Light24's other colours: one per tag, no repeats), so JJ is the same colour in the POS panels, the heatmap outlier lines and the divergence-stability scatter.
# Categories that are not tags (frequency bins, surprisal bins) use their order within the family (category_colour).
TAG_ORDER = (
    "NN", "NNS", "NNP", "NNPS", "VB", "VBD", "VBG", "VBN", "VBZ", "VBP", "DT", "JJ", "IN", "PRP", "PRP$", "CC",
    "TO", "RB", "MD", "nouns", "verbs", "CD", "WDT", "WP", "WRB", "EX", "POS", "RP", "JJR", "JJS", "RBR", "RBS",
    "PDT", "UH", "FW", "SYM", "LS", "WP$",
)  # fmt: skip
# Universal POS tags (corpus add --tagset upos) take the colour of their nearest PTB tag (all distinct), so NOUN looks
# like NN and the merged 'nouns' and 'verbs' keep theirs.
UPOS_LIKE = {
    "NOUN": "NN", "PROPN": "NNP", "VERB": "VB", "AUX": "MD", "DET": "DT", "ADJ": "JJ", "ADP": "IN", "PRON": "PRP",
    "CCONJ": "CC", "PART": "TO", "ADV": "RB", "NUM": "CD", "SCONJ": "WDT", "INTJ": "UH", "SYM": "SYM", "X": "FW",
    "PUNCT": "POS",
}  # fmt: skip
TAG_PALETTE = CATEGORY_PALETTE + tuple(c for c in qualitative.Light24 if c.lower() not in CATEGORY_PALETTE)
# Booleans (begin/end of word) get their own pair, unlike any size or tag colour.
BOOLEAN_COLOURS = {"true": "#35978f", "false": "#bf812d"}


def tag_colour(tag: str) -> str:
    """The colour of a POS tag (or merged group) everywhere in the report; other tags by a stable hash."""
    tag = UPOS_LIKE.get(tag, tag)
    if tag in TAG_ORDER:
        return TAG_PALETTE[TAG_ORDER.index(tag) % len(TAG_PALETTE)]
    return TAG_PALETTE[sum(map(ord, tag)) % len(TAG_PALETTE)]


def boolean_colour(value: str) -> str:
    return BOOLEAN_COLOURS.get(str(value).lower(), "#777777")


TAG_FAMILIES = ("pos_t", "pos_prev")
BOOLEAN_FAMILIES = ("begin_of_word", "end_of_word")


def series_colour(family: str | None, category: str, k: int) -> str:
    """A category line's colour: its tag's (POS families), the boolean pair (word boundaries), else the k-th
    category colour of its panel (ordered bins)."""
    if family in TAG_FAMILIES:
        return tag_colour(category)
    if family in BOOLEAN_FAMILIES:
        return boolean_colour(category)
    return category_colour(k)


# Every sigma heatmap shares one colour range, symmetric on the log scale around sigma = 1: log2 sigma from
# -SIGMA_LOG2_RANGE to +SIGMA_LOG2_RANGE (sigma 1/4 to 4; cells beyond take the end colours), so two heatmaps'
# colours mean the same sigma.
SIGMA_LOG2_RANGE = 2.0


def sigma_colour_range() -> dict:
    """Heatmap keywords for log2 sigma: the shared range, centred at sigma = 1, a colour bar labelled in sigma."""
    r = SIGMA_LOG2_RANGE
    ticks = np.arange(-r, r + 1)
    return dict(
        zmin=-r,
        zmax=r,
        zmid=0,
        colorscale="RdBu_r",
        colorbar=dict(title="sigma (log scale)", tickvals=list(ticks), ticktext=[f"{2.0**t:g}" for t in ticks]),
    )


def legend_ref(panel: int) -> str:
    """The legend a trace of panel ``panel`` (0-based) belongs to: 'legend', 'legend2', ..."""
    return "legend" if panel == 0 else f"legend{panel + 1}"


def panel_legends(fig: go.Figure, n_panels: int, cols: int) -> None:
    """One legend per subplot, to the right of its panel and level with its top (needs horizontal room: see
    PANEL_SPACING), so that each panel names its own lines."""
    layout = fig.layout
    for p in range(n_panels):
        suffix = "" if p == 0 else str(p + 1)
        xd = layout[f"xaxis{suffix}"].domain
        yd = layout[f"yaxis{suffix}"].domain
        layout[legend_ref(p)] = dict(
            x=xd[1] + 0.005,
            y=yd[1],
            xanchor="left",
            yanchor="top",
            font=dict(size=10),
            bgcolor="rgba(255,255,255,0.6)",
            tracegroupgap=0,
        )


# Room between the columns of subplots for the left panel's legend and the right panel's y-axis title.
PANEL_SPACING = 0.2


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def step_x(steps) -> np.ndarray:
    return np.asarray(steps, dtype=float) + STEP_OFFSET


def step_axis(steps: Iterable[int], title: str = "training step") -> dict:
    """Log x axis over step + 1 with ticks labelled by real steps (thinned to at most ~12 labels)."""
    ticks = sorted({int(s) for s in steps})
    if len(ticks) > 9:
        # Keep ticks at least 1/8 of the axis apart in log(step + 1), always the first and the last step.
        pos = np.log10(np.asarray(ticks, float) + STEP_OFFSET)
        gap = (pos[-1] - pos[0]) / 8
        kept = [0]
        for i in range(1, len(ticks) - 1):
            if pos[i] - pos[kept[-1]] >= gap and pos[-1] - pos[i] >= gap / 2:
                kept.append(i)
        kept.append(len(ticks) - 1)
        ticks = [ticks[i] for i in kept]
    return dict(type="log", title=title, tickvals=list(step_x(ticks)), ticktext=[str(t) for t in ticks])


def log_axis(title: str, **kw) -> dict:
    """A log axis whose ticks read as plain numbers (0.0001, 0.01, 1; plotly's default prints SI prefixes, "100µ")."""
    return dict(type="log", title=title, exponentformat="none", **kw)


def base_layout(title: str, height: int = 420, **kw) -> dict:
    layout = dict(
        title=dict(text=title, x=0.01, font=dict(size=15)),
        height=height,
        margin=dict(l=60, r=20, t=60, b=50),
        template=LIGHT_TEMPLATE,
        legend=dict(orientation="v"),
        hovermode="closest",
    )
    layout.update(kw)
    return layout


def line_with_band(
    x,
    y,
    low=None,
    high=None,
    *,
    name: str,
    colour_: str,
    legendgroup: str | None = None,
    showlegend: bool = True,
    visible=True,
    dash: str | None = None,
    xaxis=None,
    yaxis=None,
    hover: str | None = None,
    customdata=None,
) -> list[dict]:
    """A line and, where ``low``/``high`` are finite, a translucent band between them, as plotly trace dicts.

    Dicts rather than ``go.Scatter``: the figures with hundreds of traces are assembled without plotly's per-trace
    validation, which took most of their build time (the traces' keys are fixed here and rendered as is).
    """
    x = np.asarray(x, dtype=float)
    traces = []
    axes = {k: v for k, v in (("xaxis", xaxis), ("yaxis", yaxis)) if v}
    if low is not None and high is not None:
        lo, hi = np.asarray(low, float), np.asarray(high, float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            traces.append(
                dict(
                    type="scatter",
                    x=np.concatenate([x[ok], x[ok][::-1]]),
                    y=np.concatenate([hi[ok], lo[ok][::-1]]),
                    mode="lines",
                    fill="toself",
                    fillcolor=rgba(colour_, 0.18),
                    line=dict(width=0),
                    hoverinfo="skip",
                    name=f"{name} band",
                    legendgroup=legendgroup or name,
                    showlegend=False,
                    visible=visible,
                    **axes,
                )
            )
    line = dict(
        type="scatter",
        x=x,
        y=np.asarray(y, float),
        mode="lines+markers",
        name=name,
        legendgroup=legendgroup or name,
        line=dict(color=colour_, **({"dash": dash} if dash else {})),
        marker=dict(size=5),
        showlegend=showlegend,
        visible=visible,
        **axes,
    )
    if hover is not None:
        line["hovertemplate"] = hover
    if customdata is not None:
        line["customdata"] = np.asarray(customdata)
    traces.append(line)
    return traces


def subplot_axes(row: int, col: int, cols: int) -> dict:
    """The xaxis/yaxis references of make_subplots' cell (row, col), for trace dicts."""
    i = (row - 1) * cols + col
    suffix = "" if i == 1 else str(i)
    return {"xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def with_traces(fig: go.Figure, traces: list[dict]) -> dict:
    """The figure as a plotly JSON dict with ``traces`` appended unvalidated (see line_with_band)."""
    out = fig.to_plotly_json()
    out["data"] = list(out.get("data", [])) + list(traces)
    return out


def size_dropdown(fig: go.Figure, trace_sizes: Sequence[str], sizes: Sequence[str]) -> None:
    """A dropdown that shows one size's traces at a time (``trace_sizes[i]`` = size of trace i; '' = always).

    It sits at the left, on a line of its own between the title (moved to the top of the figure) and the plot
    area (the top margin grows by DROPDOWN_ROOM), so it never overlaps the plot's toolbar (top right) or the title.
    """
    if len(sizes) < 2:
        return
    buttons = []
    for size in sizes:
        visible = [s == size or s == "" for s in trace_sizes]
        buttons.append(dict(label=f"size {size}", method="update", args=[{"visible": visible}]))
    top = (fig.layout.margin.t if fig.layout.margin.t is not None else 60) + DROPDOWN_ROOM
    fig.update_layout(
        margin=dict(t=top),
        title=dict(yref="container", y=1, yanchor="top", pad=dict(t=12)),
        updatemenus=[
            dict(
                buttons=buttons,
                x=0,
                y=1,
                xanchor="left",
                yanchor="bottom",
                pad=dict(b=22),
                active=len(sizes) - 1,
                showactive=True,
            )
        ],
    )
    if fig.layout.height is not None:
        fig.update_layout(height=fig.layout.height + DROPDOWN_ROOM)


# Room added above the plot area for the size dropdown (its line between the title and the subplot titles).
DROPDOWN_ROOM = 36


def tidy(df: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The CSV of a figure: exactly the plotted columns, in order."""
    return df.loc[:, [c for c in columns if c in df.columns]].reset_index(drop=True)

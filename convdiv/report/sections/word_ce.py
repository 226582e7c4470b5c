"""Cross-entropy by word: suites with different tokenizers side by side on the same documents."""

from __future__ import annotations

import pandas as pd
from plotly.subplots import make_subplots

from convdiv.report.data import ReportData
from convdiv.report.figures import (
    PANEL_SPACING,
    STEP_AXIS_NOTE,
    base_layout,
    colour,
    legend_ref,
    line_with_band,
    panel_legends,
    step_axis,
    step_x,
    tidy,
)
from convdiv.report.model import Figure, Missing, Section
from convdiv.warehouse import names

KEY = "word-ce"
TITLE = "Cross-entropy by word, across tokenizers"
GUIDE = (
    "KL between two models needs one vocabulary, so suites with different tokenizers cannot be compared by KL; "
    "surprisal can, once it is summed over the tokens of each word. Words are the corpus's own spaCy words (the "
    "same characters whatever the tokenizer): a token counts towards the word of its first non-space character, "
    "leading whitespace towards the word it precedes (view word_surprisal). Left: the mean surprisal per word "
    "(complete words only: every token predicted), one line per suite and size, the mean over its seeds, each on "
    "its own tokenization of the same documents; the band spans the seeds' lowest and highest value. Right: the "
    "same predictions per token, which is not comparable across tokenizers (longer tokens are fewer and harder): "
    "the left panel is the comparison. " + STEP_AXIS_NOTE + "."
)
PANELS = (("mean_word_ce", "CE per word (nats)"), ("mean_token_ce", "CE per token (nats)"))
COLUMNS = ["suite", "corpus", "size", "step", "n_seeds", "n_words", "tokens_per_word", "mean_word_ce", "mean_token_ce"]


def tokenizations(data: ReportData) -> pd.DataFrame:
    """The corpora holding the report corpus's documents cut into the same words (corpus_tokenizations), or
    Missing saying what the section needs."""
    data.require(names.CORPUS_TOKENIZATIONS, names.WORD_CE)
    if data.scope.corpus is None:
        raise Missing("nothing ingested yet: run `convdiv corpus add` and `convdiv ingest`")
    mine = data.lookup(names.CORPUS_TOKENIZATIONS, corpus=data.scope.corpus)
    if mine.empty or not bool(mine["has_words"].iloc[0]):
        raise Missing(
            f"corpus {data.scope.corpus} was added before the warehouse stored words (migration 0022): add it "
            "again with `convdiv corpus add ... --replace` and ingest again to compare tokenizers by word"
        )
    row = mine.iloc[0]
    if int(row["n_tokenizations"]) < 2:
        raise Missing(
            f"corpus {data.scope.corpus} is the only tokenization of its documents: add the same documents as "
            "another corpus with another tokenizer (`convdiv corpus add OTHER --tokenizer ...`, same files and "
            "spaCy model) and ingest a suite with that tokenizer on it to compare CE by word"
        )
    return data.lookup(names.CORPUS_TOKENIZATIONS, segmentation=row["segmentation"]).sort_values("corpus")


def curves(data: ReportData, corpora: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of word_ce per suite, corpus, size and step, for every corpus of the segmentation."""
    # by corpus_id: the constant reaches the positions before the view's grouping (docs/sql.md, word_surprisal)
    parts = [p for c in corpora["corpus_id"] if not (p := data.lookup(names.WORD_CE, corpus_id=int(c))).empty]
    if not parts:
        raise Missing("no suite ingested on these corpora has word-level surprisal yet: run `convdiv ingest`")
    df = pd.concat(parts, ignore_index=True)
    if data.scope.sizes:  # the report's size filter applies to its own suite only
        df = df[(df["suite"] != data.scope.suite) | df["size"].isin(data.scope.sizes)]
    keys = ["suite", "corpus", "size", "size_rank", "step"]
    g = df.groupby(keys, as_index=False)
    out = g.agg(
        n_seeds=("seed", "nunique"),
        n_words=("n_words", "max"),
        tokens_per_word=("tokens_per_word", "mean"),
        mean_word_ce=("mean_word_ce", "mean"),
        low_word_ce=("mean_word_ce", "min"),
        high_word_ce=("mean_word_ce", "max"),
        mean_token_ce=("mean_token_ce", "mean"),
        low_token_ce=("mean_token_ce", "min"),
        high_token_ce=("mean_token_ce", "max"),
    )
    return out.sort_values(["suite", "corpus", "size_rank", "step"]).reset_index(drop=True)


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    corpora = tokenizations(data)
    df = curves(data, corpora)
    lines = list(df[["suite", "corpus", "size"]].drop_duplicates().itertuples(index=False))
    if df["corpus"].nunique() < 2:
        sec.notes.append(
            f"only corpus {df['corpus'].iloc[0]} of {', '.join(corpora['corpus'])} has a suite ingested: ingest a "
            "suite on another tokenization to draw its curve beside this one"
        )
    fig = make_subplots(rows=1, cols=2, subplot_titles=[p[1] for p in PANELS], horizontal_spacing=PANEL_SPACING)
    for i, (suite, corpus, size) in enumerate(lines):
        g = df[(df["suite"] == suite) & (df["corpus"] == corpus) & (df["size"] == size)]
        for j, (column, _label) in enumerate(PANELS):
            stem = column.removeprefix("mean_")
            for tr in line_with_band(
                step_x(g["step"]),
                g[column],
                g[f"low_{stem}"],
                g[f"high_{stem}"],
                name=f"{suite} {size} ({corpus})",
                colour_=colour(i),
                legendgroup=f"{j}:{suite}:{corpus}:{size}",
            ):
                tr["legend"] = legend_ref(j)
                fig.add_trace(tr, row=1, col=j + 1)
    for j, (_column, label) in enumerate(PANELS):
        fig.update_xaxes(**step_axis(df["step"]), row=1, col=j + 1)
        fig.update_yaxes(title_text=label, row=1, col=j + 1)
    fig.update_layout(**base_layout("Cross-entropy by word and by token, one tokenization per corpus", height=430))
    panel_legends(fig, len(PANELS), 2)
    words = df.groupby("corpus")["n_words"].max()
    if words.nunique() > 1:
        sec.notes.append(
            "the corpora count different numbers of complete words ("
            + ", ".join(f"{c}: {int(n)}" for c, n in words.items())
            + "): a corpus without BOS leaves each document's first word incomplete, and only complete words count"
        )
    sec.figures.append(
        Figure(
            "word-ce-curves",
            fig,
            tidy(df, COLUMNS),
            caption=f"{len(lines)} curve(s) over {df['corpus'].nunique()} tokenization(s) of the same documents; "
            "line: mean over seeds, band: lowest to highest seed",
        )
    )
    return sec

"""The presentation's groupings of POS tags (the study's slides on conditional convergence), per tagset.

The study tagged with Penn Treebank tags (PTB). Its "verbs" leave VBP (non-3rd-person present) out; it is drawn
with the other tags instead. 'nouns' and 'verbs' are merged categories: per comparison, the position-weighted mean
of their tags' mean KL (exact: every position of a comparison belongs to one tag), so their intervals over seeds
come out like any category's.

A corpus added with ``--tagset upos`` (corpus_summary.tagset) has Universal POS tags, and the same panels are drawn
with their nearest UPOS counterparts: nouns = NOUN, PROPN (NN*); verbs = VERB, AUX (PTB tags be/have/do as VB*
and only modals as MD; UPOS puts be/have/do and the modals in AUX, and has no VBP); the grouped panel's JJ, IN, DT,
MD, PRP become ADJ, ADP, DET, AUX, PRON (AUX as the modals' tag, also inside 'verbs'); the other panel holds the
remaining function and content tags. The merged 'nouns' and 'verbs' are computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Groupings:
    """The report's POS panels and merged categories for one tagset."""

    tagset: str
    label: str  # how the report names the tagset
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    other: tuple[str, ...]
    grouped: tuple[str, ...]  # the presentation's grouped panel: a few tags and the merged 'nouns', 'verbs'

    @property
    def merged(self) -> dict[str, tuple[str, ...]]:
        return {"nouns": self.nouns, "verbs": self.verbs}

    @property
    def panels(self) -> dict[str, tuple[str, ...]]:
        return {"nouns": self.nouns, "verbs": self.verbs, "other": self.other, "grouped": self.grouped}


PTB = Groupings(
    tagset="ptb",
    label="Penn Treebank tags (the pipeline's fine-grained tag_)",
    nouns=("NN", "NNS", "NNP", "NNPS"),
    verbs=("VB", "VBD", "VBG", "VBN", "VBZ"),
    other=("PRP$", "DT", "CC", "JJ", "IN", "TO", "RB", "MD", "PRP", "VBP"),
    grouped=("JJ", "IN", "DT", "MD", "PRP", "nouns", "verbs"),
)
UPOS = Groupings(
    tagset="upos",
    label="Universal POS tags (--tagset upos)",
    nouns=("NOUN", "PROPN"),
    verbs=("VERB", "AUX"),
    other=("DET", "ADP", "ADJ", "ADV", "PRON", "CCONJ", "SCONJ", "PART", "NUM", "AUX"),
    grouped=("ADJ", "ADP", "DET", "AUX", "PRON", "nouns", "verbs"),
)
BY_TAGSET = {g.tagset: g for g in (PTB, UPOS)}

# The PTB groupings by their old names (the study's tagset, the default).
NOUNS, VERBS, OTHER, GROUPED = PTB.nouns, PTB.verbs, PTB.other, PTB.grouped
MERGED = PTB.merged
POS_FAMILIES = ("pos_t", "pos_prev")


def for_tagset(tagset: str | None) -> Groupings:
    """The groupings of a corpus's tagset (corpus_summary.tagset); PTB for a tagset the report does not know."""
    return BY_TAGSET.get(tagset or "ptb", PTB)


def merge_comparison_groups(pairs: pd.DataFrame, groupings: Groupings = PTB) -> pd.DataFrame:
    """``pairs`` (one row per comparison and category, with n_positions and mean_kl, e.g. comparison_kl) with rows
    for 'nouns' and 'verbs' added to the POS families: the n_positions-weighted mean of their tags' mean_kl."""
    pos = pairs[pairs["family"].isin(POS_FAMILIES)]
    keys = [c for c in pairs.columns if c not in ("category", "category_order", "n_positions", "mean_kl")]
    out = [pairs]
    for name, tags in groupings.merged.items():
        sub = pos[pos["category"].isin(tags)]
        if sub.empty:
            continue
        w = sub["n_positions"].astype(float)
        agg = (
            sub.assign(_w=w, _kl=sub["mean_kl"].astype(float) * w)
            .groupby(keys, as_index=False, dropna=False)[["_w", "_kl"]]
            .sum()
        )
        out.append(
            agg.assign(category=name, n_positions=agg["_w"], mean_kl=agg["_kl"] / agg["_w"]).drop(columns=["_w", "_kl"])
        )
    return pd.concat(out, ignore_index=True)

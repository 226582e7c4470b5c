"""The presentation's groupings of PTB tags (the study's slides on conditional convergence).

The study's "verbs" leave VBP (non-3rd-person present) out; it is drawn with the other tags instead. 'nouns' and
'verbs' are merged categories: per comparison, the position-weighted mean of their tags' mean KL (exact: every
position of a comparison belongs to one tag), so their intervals over seeds come out like any category's.
"""

from __future__ import annotations

import pandas as pd

NOUNS = ("NN", "NNS", "NNP", "NNPS")
VERBS = ("VB", "VBD", "VBG", "VBN", "VBZ")
OTHER = ("PRP$", "DT", "CC", "JJ", "IN", "TO", "RB", "MD", "PRP", "VBP")
GROUPED = ("JJ", "IN", "DT", "MD", "PRP", "nouns", "verbs")
MERGED = {"nouns": NOUNS, "verbs": VERBS}
POS_FAMILIES = ("pos_t", "pos_prev")


def merge_comparison_groups(pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` (one row per comparison and category, with n_positions and mean_kl, e.g. comparison_kl) with rows
    for 'nouns' and 'verbs' added to the POS families: the n_positions-weighted mean of their tags' mean_kl."""
    pos = pairs[pairs["family"].isin(POS_FAMILIES)]
    keys = [c for c in pairs.columns if c not in ("category", "category_order", "n_positions", "mean_kl")]
    out = [pairs]
    for name, tags in MERGED.items():
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

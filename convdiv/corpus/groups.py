"""Coarse part-of-speech groups for reports, defined once.

``group_t`` / ``group_prev`` are derived from the fine-grained Penn Treebank tag (spaCy's ``tag_``), the tag
stored as ``pos_t`` / ``pos_prev``. Tags outside the PTB set (a non-English spaCy model) fall back to the
Universal POS (``pos_``). A token with no tag (whitespace, special tokens) has no group (NULL), never a fake one.
A corpus added with ``--tagset upos`` stores the Universal POS as its tags, so its groups come from the UPOS table
below (no UPOS tag is a PTB tag except SYM, which is 'other' in both); auxiliaries (AUX: be, have, will, can) are
then 'function' words, where PTB puts be/have/do among the verbs and only the modals (MD) among function words.

Groups (in report order):

- ``noun``: NN NNS NNP NNPS
- ``verb``: VB VBD VBG VBN VBP VBZ (modal MD counts as a function word)
- ``adjective``: JJ JJR JJS
- ``adverb``: RB RBR RBS WRB
- ``function``: CC DT EX IN MD PDT POS PRP PRP$ RP TO WDT WP WP$
- ``punctuation``: . , : `` '' -LRB- -RRB- HYPH NFP
- ``number``: CD
- ``other``: everything else (FW LS SYM UH XX ADD AFX $ # _SP ...)
"""

from __future__ import annotations

GROUPS: tuple[str, ...] = ("noun", "verb", "adjective", "adverb", "function", "punctuation", "number", "other")

_PTB: dict[str, tuple[str, ...]] = {
    "noun": ("NN", "NNS", "NNP", "NNPS"),
    "verb": ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ"),
    "adjective": ("JJ", "JJR", "JJS"),
    "adverb": ("RB", "RBR", "RBS", "WRB"),
    "function": ("CC", "DT", "EX", "IN", "MD", "PDT", "POS", "PRP", "PRP$", "RP", "TO", "WDT", "WP", "WP$"),
    "punctuation": (".", ",", ":", "``", "''", "-LRB-", "-RRB-", "HYPH", "NFP"),
    "number": ("CD",),
    "other": ("FW", "LS", "SYM", "UH", "XX", "ADD", "AFX", "$", "#", "_SP"),
}
PTB_GROUP: dict[str, str] = {tag: group for group, tags in _PTB.items() for tag in tags}

# Universal POS -> group: tags outside the PTB table, and every tag of a --tagset upos corpus (INTJ, SYM, X: other).
UPOS_GROUP: dict[str, str] = {
    "NOUN": "noun",
    "PROPN": "noun",
    "VERB": "verb",
    "ADJ": "adjective",
    "ADV": "adverb",
    "ADP": "function",
    "AUX": "function",
    "CCONJ": "function",
    "SCONJ": "function",
    "DET": "function",
    "PART": "function",
    "PRON": "function",
    "PUNCT": "punctuation",
    "NUM": "number",
}


def group_of(tag: str | None, upos: str | None = None) -> str | None:
    """The coarse group of a PTB tag (UPOS fallback for other tagsets); None for an untagged token."""
    if tag is None and upos is None:
        return None
    if tag in PTB_GROUP:
        return PTB_GROUP[tag]
    return UPOS_GROUP.get(upos or "", "other")

"""From tokenised, tagged documents to the rows of ``position``: one per predicted token.

For a document with full token sequence w(0..n-1), position x (0 <= x <= n-2) has

- context_token_id = w(x), target_token_id = w(x+1);
- pos_t = tag of w(x+1) (POS(t)), pos_prev = tag of w(x) (POS(t-1)); likewise upos_* and group_*;
- begin_of_word / end_of_word of the target token w(x+1);
- frequency = c(w(x+1)) in the frequency source;
- word = the spaCy word w(x+1) counts towards in word-level surprisal (align.token_words; -1 = none, NULL).

The words themselves (character spans, text, tokens per word) are a :class:`WordTable`, one row per spaCy word
of each document: they depend on the text and the spaCy pipeline only, not on the tokenizer.

Hence pos_prev(x) = pos_t(x-1) for x >= 1. At x = 0, pos_prev is the tag of w(0) itself: NULL when w(0) is BOS
(the study's convention: the first position has no previous tag), the first word's tag when the corpus adds no
BOS. A document with fewer than two tokens has no position and is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from dataclasses import dataclass

import numpy as np

from convdiv.corpus.align import align_tokens, token_words
from convdiv.corpus.groups import GROUPS, group_of
from convdiv.corpus.tagging import TagVocab, Words
from convdiv.corpus.tokens import TokenizedDocument
from convdiv.errors import ConvdivError


@dataclass
class TokenTags:
    """Per token of one document: tag, UPOS and group codes (-1 = NULL) and word-boundary flags."""

    tag: np.ndarray
    upos: np.ndarray
    group: np.ndarray
    begin_of_word: np.ndarray
    end_of_word: np.ndarray


@dataclass
class PositionTable:
    """Column arrays of the position rows of a corpus, in (document, idx) order; text columns as codes."""

    document: np.ndarray
    idx: np.ndarray
    context_token_id: np.ndarray
    target_token_id: np.ndarray
    pos_t: np.ndarray
    pos_prev: np.ndarray
    upos_t: np.ndarray
    upos_prev: np.ndarray
    group_t: np.ndarray
    group_prev: np.ndarray
    begin_of_word: np.ndarray
    end_of_word: np.ndarray
    frequency: np.ndarray
    word: np.ndarray  # index of w(x+1)'s word in its document's WordTable rows, -1 = none (NULL)
    strings: list[str]  # code -> text for the code columns

    def __len__(self) -> int:
        return len(self.idx)

    def decoded(self, column: str) -> list[str | None]:
        """A code column as strings (None for NULL), for tests and inspection."""
        codes = getattr(self, column)
        return [self.strings[c] if c >= 0 else None for c in codes.tolist()]


# The position columns in table order (the PositionTable fields but its string table); corpus/load.py COPYs them.
COLUMNS = tuple(f.name for f in dataclasses.fields(PositionTable) if f.name != "strings")


def token_tags(
    text_length: int, doc: TokenizedDocument, words: Words, vocab: TagVocab, group_codes: dict[tuple[int, int], int]
) -> TokenTags:
    al = align_tokens(text_length, words.starts, words.ends, doc.offsets, doc.special)
    has = al.word >= 0
    w = np.where(has, al.word, 0)
    tag = np.where(has, words.tag[w] if len(words.tag) else -1, -1).astype(np.int32)
    upos = np.where(has, words.upos[w] if len(words.upos) else -1, -1).astype(np.int32)
    group = np.full(len(tag), -1, dtype=np.int32)
    pairs = np.stack([tag, upos], axis=1)
    for t, u in {tuple(p) for p in pairs[has].tolist()}:
        key = (t, u)
        if key not in group_codes:
            name = group_of(vocab.strings[t] if t >= 0 else None, vocab.strings[u] if u >= 0 else None)
            group_codes[key] = vocab.code(name) if name else -1
        group[has & (tag == t) & (upos == u)] = group_codes[key]
    return TokenTags(tag, upos, group, al.begin_of_word, al.end_of_word)


def build_positions(
    texts: list[str], docs: list[TokenizedDocument], words: list[Words], vocab: TagVocab, counts: np.ndarray
) -> PositionTable:
    """All position rows of a corpus (see the module docstring)."""
    for g in GROUPS:  # groups get stable codes first
        vocab.code(g)
    group_codes: dict[tuple[int, int], int] = {}
    cols: dict[str, list[np.ndarray]] = {k: [] for k in COLUMNS}
    for doc_no, (text, doc, doc_words) in enumerate(zip(texts, docs, words)):
        n = len(doc.ids)
        if n < 2:
            raise ConvdivError(f"document {doc_no} has {n} token(s); a document needs at least 2 (one position)")
        tt = token_tags(len(text), doc, doc_words, vocab, group_codes)
        m = n - 1
        cols["document"].append(np.full(m, doc_no, dtype=np.int32))
        cols["idx"].append(np.arange(m, dtype=np.int32))
        cols["context_token_id"].append(doc.ids[:-1].astype(np.int32))
        cols["target_token_id"].append(doc.ids[1:].astype(np.int32))
        cols["pos_t"].append(tt.tag[1:])
        cols["pos_prev"].append(tt.tag[:-1])
        cols["upos_t"].append(tt.upos[1:])
        cols["upos_prev"].append(tt.upos[:-1])
        cols["group_t"].append(tt.group[1:])
        cols["group_prev"].append(tt.group[:-1])
        cols["begin_of_word"].append(tt.begin_of_word[1:])
        cols["end_of_word"].append(tt.end_of_word[1:])
        cols["frequency"].append(counts[doc.ids[1:]].astype(np.int64))
        cols["word"].append(token_words(len(text), doc_words.starts, doc_words.ends, doc.offsets, doc.special)[1:])
    return PositionTable(**{k: np.concatenate(v) for k, v in cols.items()}, strings=list(vocab.strings))


@dataclass
class WordTable:
    """The spaCy words of a corpus, one row per word of each document, in (document, word) order.

    n_tokens counts the tokens of the full sequence (w(0) included) that belong to the word (align.token_words);
    a word whose tokens are not all predicted (w(0) of a corpus without BOS) is incomplete in word_surprisal.
    """

    document: np.ndarray  # int32
    word: np.ndarray  # int32, 0-based within the document
    start_char: np.ndarray  # int64, first character in the document text
    end_char: np.ndarray  # int64, one past the last character
    n_tokens: np.ndarray  # int32
    text: list[str]

    def __len__(self) -> int:
        return len(self.word)


def build_words(texts: list[str], docs: list[TokenizedDocument], words: list[Words]) -> WordTable:
    """The word rows of a corpus (see WordTable)."""
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("document", "word", "start_char", "end_char", "n_tokens")}
    text: list[str] = []
    for doc_no, (doc_text, doc, w) in enumerate(zip(texts, docs, words)):
        n = len(w.starts)
        of_token = token_words(len(doc_text), w.starts, w.ends, doc.offsets, doc.special)
        cols["document"].append(np.full(n, doc_no, dtype=np.int32))
        cols["word"].append(np.arange(n, dtype=np.int32))
        cols["start_char"].append(np.asarray(w.starts, dtype=np.int64))
        cols["end_char"].append(np.asarray(w.ends, dtype=np.int64))
        cols["n_tokens"].append(np.bincount(of_token[of_token >= 0], minlength=n).astype(np.int32))
        text += [doc_text[a:b] for a, b in zip(w.starts.tolist(), w.ends.tolist())]
    return WordTable(**{k: np.concatenate(v) for k, v in cols.items()}, text=text)


def words_sha256(texts: list[str], words: list[Words]) -> str:
    """One hash of the documents and their word spans: equal for two corpora exactly when they have the same
    documents cut into the same words, whatever their tokenizers (``corpus.words_sha256``)."""
    h = hashlib.sha256()
    for doc_text, w in zip(texts, words):
        data = doc_text.encode("utf-8")
        spans = np.stack([np.asarray(w.starts, dtype="<i8"), np.asarray(w.ends, dtype="<i8")], axis=1)
        for part in (data, spans.tobytes()):
            h.update(struct.pack("<Q", len(part)))  # length prefixes: no two inputs share a byte stream
            h.update(part)
    return h.hexdigest()

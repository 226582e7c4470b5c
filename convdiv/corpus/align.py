"""Align BPE tokens with spaCy words by character offsets.

Inputs for one document: its words (non-space spaCy tokens, character spans [a, b)) and its tokens (character
spans [s, e) from the fast tokenizer, and which tokens are special).

Rules:

- A token takes the word that covers the most of its non-space characters (characters inside some word);
  ties go to the leftmost word. A token with no non-space character (space, newline, whitespace run) or a special
  token (BOS, EOS, ``<|endoftext|>``) has no word: its tag is NULL, not a category.
- Byte-level BPE may split one multi-byte character (an emoji, "Ł") over several tokens; each of them reports
  the whole character's span, so each takes that character's word.
- begin_of_word: the token holds the first character of a word; end_of_word: it holds the last character of a
  word. A character shared by several byte tokens counts as "held" once: its first character by the first token
  that reports it (for begin), its last by the last one (for end). Untagged tokens are neither.

Cost: O(characters + tokens) with numpy; only tokens whose first and last non-space characters fall in different
words (e.g. ``").\\n"``) take a per-token slow path. The per-character arrays are int32 (texts below 2**31
characters): about a dozen of them live at once, ~0.3 GB for a 5 MB document in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Alignment:
    word: np.ndarray  # int64 [n] index of the token's word, -1 for none
    begin_of_word: np.ndarray  # bool [n]
    end_of_word: np.ndarray  # bool [n]


def align_tokens(
    text_length: int,
    word_starts: np.ndarray,
    word_ends: np.ndarray,
    offsets: np.ndarray,
    special: np.ndarray | None = None,
) -> Alignment:
    """Word index and begin/end flags for each token (see the module docstring for the rules)."""
    L = int(text_length)
    it: type[np.signedinteger] = np.int32 if L < 2**31 - 1 else np.int64  # character positions (module docstring)
    starts = np.asarray(word_starts, dtype=it)
    ends = np.asarray(word_ends, dtype=it)
    offsets = np.asarray(offsets, dtype=it).reshape(-1, 2)
    n = offsets.shape[0]
    s = np.clip(offsets[:, 0], 0, L)
    e = np.clip(offsets[:, 1], 0, L)
    usable = e > s
    if special is not None:
        usable &= ~np.asarray(special, dtype=bool)

    # char_word[c] = index of the word covering character c, -1 for whitespace.
    lengths = ends - starts
    char_word = np.full(L + 1, -1, dtype=it)  # +1: a sentinel position L that no word covers
    if len(starts):
        word_of_char = np.repeat(np.arange(len(starts), dtype=it), lengths)
        char_pos = (
            np.arange(lengths.sum(), dtype=it)
            - np.repeat(np.cumsum(lengths, dtype=it) - lengths, lengths)
            + np.repeat(starts, lengths)
        )
        char_word[char_pos] = word_of_char
        del word_of_char, char_pos
    covered = char_word >= 0
    index = np.arange(L + 1, dtype=it)
    # first covered character at or after c / last covered character at or before c
    next_covered = np.minimum.accumulate(np.where(covered, index, L)[::-1])[::-1]
    prev_covered = np.maximum.accumulate(np.where(covered, index, -1))

    first = next_covered[s]
    has_word = usable & (first < e)
    last = prev_covered[np.maximum(e - 1, 0)]
    w_first = char_word[first]
    w_last = char_word[np.maximum(last, 0)]
    word = np.where(has_word, w_first, -1).astype(np.int64)

    # Tokens spanning several words: majority of characters, leftmost on ties.
    for i in np.flatnonzero(has_word & (w_first != w_last)):
        seg = char_word[s[i] : e[i]]
        seg = seg[seg >= 0]
        values, counts = np.unique(seg, return_counts=True)
        word[i] = values[np.argmax(counts)]

    # Effective spans for the flags: a character reported by several tokens belongs to the first of them for
    # "begin" and to the last of them for "end" (offsets are non-decreasing for byte-level BPE).
    prev_end = np.concatenate([[0], np.maximum.accumulate(e)[:-1]]) if n else e
    next_start = np.concatenate([np.minimum.accumulate(s[::-1])[::-1][1:], [L]]) if n else s
    b_lo = np.minimum(np.maximum(s, prev_end), e)
    e_hi = np.maximum(np.minimum(e, next_start), s)
    start_mark = np.zeros(L + 1, dtype=it)
    end_mark = np.zeros(L + 1, dtype=it)
    start_mark[starts] = 1
    end_mark[ends - 1] = 1
    cum_start = np.concatenate([np.zeros(1, it), np.cumsum(start_mark, dtype=it)])
    cum_end = np.concatenate([np.zeros(1, it), np.cumsum(end_mark, dtype=it)])
    begin = has_word & (cum_start[e] - cum_start[b_lo] > 0)
    end = has_word & (cum_end[e_hi] - cum_end[s] > 0)
    return Alignment(word=word, begin_of_word=begin, end_of_word=end)


def token_words(
    text_length: int,
    word_starts: np.ndarray,
    word_ends: np.ndarray,
    offsets: np.ndarray,
    special: np.ndarray | None = None,
) -> np.ndarray:
    """The word each token counts towards in word-level surprisal (int64 [n], -1 for none).

    Rule (docs/sql.md, word_surprisal): a token belongs to the word of the first word character at or after its
    start. So a token spanning two words (``").\\n"``, ``"'s"`` merged with a space) goes to the word where its first
    non-space character is; a whitespace-only token goes to the next word (leading whitespace belongs to the word
    it precedes, as byte-level BPE's ``" the"`` does); whitespace after a document's last word and special tokens
    (BOS, EOS, ``<|endoftext|>``) belong to no word. Tokens are in text order, so this depends only on character
    offsets: two tokenizations of the same text give every word the same characters, whatever the tokens.
    """
    L = int(text_length)
    starts = np.asarray(word_starts, dtype=np.int64)
    ends = np.asarray(word_ends, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    s = np.clip(offsets[:, 0], 0, L)
    # the first word ending after s: the word holding s, or else the next word (words are sorted and disjoint)
    word = np.searchsorted(ends, s, side="right").astype(np.int64)
    word[word >= len(starts)] = -1
    if special is not None:
        word[np.asarray(special, dtype=bool)] = -1
    return word

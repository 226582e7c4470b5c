"""Alignment of BPE tokens with spaCy words (real Pythia tokenizer, real spaCy tagger), against a naive oracle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from convdiv.corpus.align import align_tokens
from convdiv.corpus.tagging import TagVocab, chunk_spans, load_tagger, mask_spans, resolve_model, tag_documents
from convdiv.corpus.tokens import load_tokenizer, tokenize_documents
from convdiv.data import austen

TEXT = (
    "  Join us for our 5th Annual WARRIOR VoLLEYball Tournament on\n\nSunday, August 20, 2017!\n"
    "If you don't have a team, we'll find one. Zoë Łukasiewicz brought 🏐 and naïve café snacks (free).\n"
    "   Indented line -- with dashes...\n"
)


@pytest.fixture(scope="module")
def tokenizer(pythia_tokenizer):
    return load_tokenizer(pythia_tokenizer)


@pytest.fixture(scope="module")
def nlp():
    return load_tagger(resolve_model(None)[0])


def tagged(tokenizer, nlp, text, bos=False, eos=False):
    """Tokens (strings, spans, special) and the spaCy Doc of ``text`` (specials masked), plus the alignment."""
    doc = tokenize_documents(tokenizer, [text], bos=bos, eos=eos)[0]
    spans = doc.offsets[doc.special & (doc.offsets[:, 1] > doc.offsets[:, 0])].tolist()
    masked = mask_spans(text, spans)
    vocab = TagVocab()
    words = tag_documents(nlp, [masked], vocab)[0]
    al = align_tokens(len(text), words.starts, words.ends, doc.offsets, doc.special)
    tags = [vocab.strings[words.tag[w]] if w >= 0 else None for w in al.word.tolist()]
    spacy_doc = nlp(masked)
    return doc, words, al, tags, spacy_doc


def oracle(text, spacy_doc, offsets, special):
    """Per token: the spaCy word covering most of its non-space characters (leftmost on ties), by brute force."""
    words = [(t.idx, t.idx + len(t.text), t.tag_) for t in spacy_doc if not t.is_space]
    out = []
    for (s, e), sp in zip(offsets.tolist(), special.tolist()):
        if sp:
            out.append(None)
            continue
        votes = Counter()
        for c in range(s, e):
            if text[c].isspace():
                continue
            for k, (a, b, _) in enumerate(words):
                if a <= c < b:
                    votes[k] += 1
        if not votes:
            out.append(None)
            continue
        best = max(votes.values())
        out.append(words[min(k for k, v in votes.items() if v == best)][2])
    return out


def spans_of(tokenizer, doc, text):
    return [(tokenizer.convert_ids_to_tokens(int(i)), text[s:e]) for i, (s, e) in zip(doc.ids, doc.offsets.tolist())]


def find(doc, text, surface):
    """Indices of the consecutive tokens whose character spans make up ``surface`` (first occurrence)."""
    start = text.index(surface)
    end = start + len(surface)
    return [i for i, (s, e) in enumerate(doc.offsets.tolist()) if s < end and e > start]


def test_matches_brute_force_oracle_on_mixed_text(tokenizer, nlp):
    doc, _, al, tags, spacy_doc = tagged(tokenizer, nlp, TEXT, bos=True, eos=True)
    assert tags == oracle(TEXT, spacy_doc, doc.offsets, doc.special)


def test_matches_oracle_on_the_pile_sample(tokenizer, nlp, pile_sample):
    text = pile_sample.text[:6000]
    doc, _, _, tags, spacy_doc = tagged(tokenizer, nlp, text)
    assert tags == oracle(text, spacy_doc, doc.offsets, doc.special)


def test_multi_token_word_shares_its_tag_and_flags_mark_its_ends(tokenizer, nlp):
    doc, _, al, tags, spacy_doc = tagged(tokenizer, nlp, TEXT)
    idx = find(doc, TEXT, " VoLLEYball")
    pieces = [tokenizer.convert_ids_to_tokens(int(doc.ids[i])) for i in idx]
    assert pieces == ["ĠVo", "L", "LEY", "ball"]
    word = next(t for t in spacy_doc if t.text == "VoLLEYball")
    assert [tags[i] for i in idx] == [word.tag_] * 4
    assert al.begin_of_word[idx].tolist() == [True, False, False, False]
    assert al.end_of_word[idx].tolist() == [False, False, False, True]


def test_punctuation_newlines_and_leading_spaces(tokenizer, nlp):
    doc, _, al, tags, spacy_doc = tagged(tokenizer, nlp, TEXT)
    texts = [TEXT[s:e] for s, e in doc.offsets.tolist()]
    # leading "  " before "Join": whitespace, no tag, not a word boundary
    assert texts[0].strip() == "" and tags[0] is None
    assert not al.begin_of_word[0] and not al.end_of_word[0]
    newline_tokens = [i for i, t in enumerate(texts) if t.strip() == "" and "\n" in t]
    assert newline_tokens and all(tags[i] is None for i in newline_tokens)
    comma = texts.index(",")
    assert tags[comma] == ","
    assert al.begin_of_word[comma] and al.end_of_word[comma]
    # "   Indented": the whitespace-run token is untagged, the word after it is tagged
    i = texts.index("Ind")
    assert texts[i - 1] == "   " and tags[i - 1] is None
    assert tags[i] is not None and tags[i] == tags[i + 1]  # "Ind" + "ented": one word


def test_contraction_takes_the_majority_word(tokenizer, nlp):
    doc, _, al, tags, spacy_doc = tagged(tokenizer, nlp, TEXT)
    idx = find(doc, TEXT, " don't")
    assert [TEXT[s:e] for s, e in doc.offsets[idx].tolist()] == [" don", "'t"]
    do, nt = [t for t in spacy_doc if t.text in ("do", "n't")][:2]
    # " don" covers "do" (2 characters) and the "n" of "n't" (1): it takes "do"; "'t" takes "n't"
    assert tags[idx[0]] == do.tag_ and tags[idx[1]] == nt.tag_
    assert al.begin_of_word[idx].tolist() == [True, False]
    assert al.end_of_word[idx].tolist() == [True, True]  # " don" ends "do", "'t" ends "n't"


def test_non_ascii_name_and_emoji_split_across_byte_tokens(tokenizer, nlp):
    doc, _, al, tags, spacy_doc = tagged(tokenizer, nlp, TEXT)
    spacy_tag = {t.text: t.tag_ for t in spacy_doc}
    for surface, word in ((" Łukasiewicz", "Łukasiewicz"), (" 🏐", "🏐"), (" naïve", "naïve")):
        idx = find(doc, TEXT, surface)
        assert len(idx) >= 2 or word == "naïve"
        assert [tags[i] for i in idx] == [spacy_tag[word]] * len(idx), surface
        # exactly one token begins and one ends the word, even where byte tokens share a character
        assert al.begin_of_word[idx].sum() == 1 and al.begin_of_word[idx[0]], surface
        assert al.end_of_word[idx].sum() == 1 and al.end_of_word[idx[-1]], surface
    emoji = find(doc, TEXT, "🏐")
    assert len(emoji) == 3  # 4 UTF-8 bytes over 3 byte-level tokens, all reporting the same character


def test_special_tokens_are_untagged(tokenizer, nlp):
    text = "First document.<|endoftext|>Second one"
    doc, _, al, tags, _ = tagged(tokenizer, nlp, text, bos=True, eos=True)
    special = np.flatnonzero(doc.special).tolist()
    assert special == [0, 4, len(doc.ids) - 1]
    assert all(tags[i] is None for i in special)
    assert not al.begin_of_word[special].any() and not al.end_of_word[special].any()
    assert tags[5] is not None  # "Second" after the separator is tagged


def test_synthetic_words_majority_ties_and_whitespace():
    # text: "ab cd" with words [0,2) and [3,5); tokens: "ab c" (2 vs 1 -> word 0), "b c" (tie -> leftmost word 0),
    # " " (no word), "d" (word 1)
    starts, ends = np.array([0, 3]), np.array([2, 5])
    offsets = np.array([[0, 4], [1, 4], [2, 3], [4, 5]])
    al = align_tokens(5, starts, ends, offsets)
    assert al.word.tolist() == [0, 0, -1, 1]
    # no words at all: everything untagged
    al = align_tokens(3, np.array([], dtype=np.int64), np.array([], dtype=np.int64), np.array([[0, 3]]))
    assert al.word.tolist() == [-1] and not al.begin_of_word.any()


def test_chunking_keeps_offsets_and_tags(nlp):
    text = austen.raw_text("persuasion")[:8000]
    spans = chunk_spans(text, 1500)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert all(e - s <= 1500 for s, e in spans)
    vocab = TagVocab()
    words = tag_documents(nlp, [text], vocab, max_chars=1500)[0]
    surface = [text[s:e] for s, e in zip(words.starts.tolist(), words.ends.tolist())]
    assert surface == [t.text for t in nlp(text) if not t.is_space]

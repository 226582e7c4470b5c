"""Position rows (POS(t), POS(t-1), flags, frequency), frequency counts, unigram, bins, sources: no database."""

from __future__ import annotations

import numpy as np
import pytest

from convdiv.corpus import frequency as freq
from convdiv.corpus import sources
from convdiv.corpus.groups import GROUPS, PTB_GROUP, group_of
from convdiv.corpus.positions import build_positions
from convdiv.corpus.tagging import TagVocab, load_tagger, mask_spans, resolve_model, tag_documents
from convdiv.corpus.tokens import load_tokenizer, token_texts, tokenize_documents
from convdiv.errors import ConvdivError

DOCS = [
    "The quick brown fox jumps over the lazy dog.\n\nIt didn't care.",
    "  Zoë sent 🏐 emojis to Łukasiewicz, twice!",
    "Short one<|endoftext|>with a separator inside.",
]


@pytest.fixture(scope="module")
def tokenizer(pythia_tokenizer):
    return load_tokenizer(pythia_tokenizer)


@pytest.fixture(scope="module")
def nlp():
    return load_tagger(resolve_model(None)[0])


def prepare(tokenizer, nlp, docs, bos):
    tokenized = tokenize_documents(tokenizer, docs, bos=bos, eos=bos)
    vocab = TagVocab()
    masked = [
        mask_spans(t, d.offsets[d.special & (d.offsets[:, 1] > d.offsets[:, 0])].tolist())
        for t, d in zip(docs, tokenized)
    ]
    words = tag_documents(nlp, masked, vocab)
    counts = freq.count_tokens((d.ids for d in tokenized), len(tokenizer))
    return tokenized, build_positions(docs, tokenized, words, vocab, counts), counts


@pytest.mark.parametrize("bos", [True, False])
def test_pos_prev_is_previous_pos_t_and_sequences_are_recoverable(tokenizer, nlp, bos):
    tokenized, table, counts = prepare(tokenizer, nlp, DOCS, bos)
    assert len(table) == sum(len(d.ids) - 1 for d in tokenized)
    pos_t, pos_prev = table.decoded("pos_t"), table.decoded("pos_prev")
    group_t, group_prev = table.decoded("group_t"), table.decoded("group_prev")
    for doc_no, doc in enumerate(tokenized):
        rows = np.flatnonzero(table.document == doc_no)
        assert table.idx[rows].tolist() == list(range(len(doc.ids) - 1))
        # [context of idx 0] + targets in order = the document's full token sequence
        assert [table.context_token_id[rows[0]], *table.target_token_id[rows]] == doc.ids.tolist()
        for a, b in zip(rows[:-1], rows[1:]):
            assert pos_prev[b] == pos_t[a] and group_prev[b] == group_t[a]
        first = rows[0]
        if bos:
            assert pos_prev[first] is None  # w(0) is BOS: the first position has no previous tag
        elif DOCS[doc_no][0].isspace():
            assert pos_prev[first] is None  # w(0) is a whitespace token: untagged
        else:
            assert pos_prev[first] is not None  # w(0) is the document's first word token: its own tag
    # untagged <-> no group; tagged -> a known group
    assert all((t is None) == (g is None) for t, g in zip(pos_t, group_t))
    assert {g for g in group_t if g} <= set(GROUPS)


def test_first_pos_prev_without_bos_is_the_first_tokens_tag(tokenizer, nlp):
    _, with_bos, _ = prepare(tokenizer, nlp, DOCS[:1], True)
    _, without, _ = prepare(tokenizer, nlp, DOCS[:1], False)
    # with BOS, position 0 predicts "The"; without, position 0 has "The" as context
    assert without.decoded("pos_prev")[0] == with_bos.decoded("pos_t")[0] == "DT"


def test_frequency_is_bincount_of_the_same_ids(tokenizer, nlp):
    tokenized, table, counts = prepare(tokenizer, nlp, DOCS, True)
    ids = np.concatenate([d.ids for d in tokenized])
    expected = np.bincount(ids, minlength=len(tokenizer))
    assert np.array_equal(counts, expected)
    assert np.array_equal(table.frequency, expected[table.target_token_id])
    assert counts[tokenizer.bos_token_id] == 2 * len(DOCS) + 1  # BOS + EOS per document + one separator


def test_special_and_whitespace_targets_are_untagged_and_not_word_boundaries(tokenizer, nlp):
    tokenized, table, _ = prepare(tokenizer, nlp, DOCS, True)
    specials = set(tokenizer.all_special_ids)
    texts = token_texts(tokenizer)
    pos_t = table.decoded("pos_t")
    for i, target in enumerate(table.target_token_id.tolist()):
        if target in specials or not texts[target].strip():
            assert pos_t[i] is None and not table.begin_of_word[i] and not table.end_of_word[i]


def test_unigram_is_normalised_and_smoothed(pile_sample):
    counts = np.array([0, 1, 5, 94])
    logq = freq.unigram_logprob(counts, alpha=1.0)
    assert np.isclose(np.exp(logq).sum(), 1.0)
    assert np.allclose(np.exp(logq), (counts + 1) / (100 + 4))
    logq = freq.unigram_logprob(freq.validate_counts(pile_sample.counts, 50277))
    assert np.isfinite(logq).all() and np.isclose(np.exp(logq).sum(), 1.0)
    with pytest.raises(ConvdivError):
        freq.unigram_logprob(counts, alpha=0)


@pytest.mark.parametrize(
    "count,label",
    [
        (0, "0"),
        (1, "[1,10)"),
        (9, "[1,10)"),
        (10, "[10,100)"),
        (99, "[10,100)"),
        (100, "[100,1000)"),
        (999_999, "[100000,1000000)"),
        (1_000_000, "[1000000,10000000)"),
        (10**15, f"[{10**15},{10**16})"),
    ],
)
def test_frequency_bins_are_right_at_their_edges(count, label):
    assert freq.frequency_bin_label(count) == label
    if count:
        lo, hi = (int(x) for x in label.strip("[)").split(","))
        assert lo <= count < hi and hi == 10 * lo


def test_counts_file_validation(tmp_path):
    good = tmp_path / "counts.npy"
    np.save(good, np.arange(5))
    assert freq.load_counts(good, 5).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ConvdivError, match=r"counts.npy.*6 counts.*\(5,\)"):
        freq.load_counts(good, 6)
    bad = tmp_path / "neg.npy"
    np.save(bad, np.array([1, -1]))
    with pytest.raises(ConvdivError, match="neg.npy"):
        freq.load_counts(bad, 2)
    with pytest.raises(ConvdivError, match="missing.npy"):
        freq.load_counts(tmp_path / "missing.npy", 2)
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(ConvdivError, match="text.npy"):
        freq.load_counts(text, 2)


def test_groups_cover_the_spacy_tagset(nlp):
    labels = nlp.get_pipe("tagger").labels
    assert set(labels) <= set(PTB_GROUP), set(labels) - set(PTB_GROUP)
    assert group_of("NNP") == "noun" and group_of("MD") == "function" and group_of("CD") == "number"
    assert group_of(None) is None and group_of("XYZ", "VERB") == "verb" and group_of("XYZ", "INTJ") == "other"


def test_text_sources_split_and_refuse_bad_files(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one\n<|endoftext|>two<|endoftext|>  \n", encoding="utf-8")
    assert sources.from_text_files([f]).documents == ["one\n", "two"]
    assert sources.from_text_files([f], separator=None).documents == [f.read_text()]
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ConvdivError, match="empty.txt is empty"):
        sources.from_text_files([empty])
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("café".encode("latin-1"))
    with pytest.raises(ConvdivError, match="latin1.txt is not UTF-8"):
        sources.from_text_files([latin])
    with pytest.raises(ConvdivError, match="nope.txt"):
        sources.from_text_files([tmp_path / "nope.txt"])


def test_dataset_source_jsonl(tmp_path):
    data = tmp_path / "docs.jsonl"
    data.write_text('{"text": "First doc."}\n{"text": "Second doc."}\n', encoding="utf-8")
    docs = sources.from_dataset(f"json:{data}", split="validation", cache_dir=tmp_path / "cache")
    assert docs.documents == ["First doc.", "Second doc."]
    with pytest.raises(ConvdivError, match="no column 'body'"):
        sources.from_dataset(f"json:{data}", text_column="body", cache_dir=tmp_path / "cache")


def test_token_texts_keep_spaces_and_escape_partial_bytes(tokenizer):
    texts = token_texts(tokenizer)
    assert len(texts) == len(tokenizer)
    assert texts[0] == "<|endoftext|>" and texts[15914] == " Vo" and texts[187] == "\n"
    partial = tokenizer.convert_tokens_to_ids("ĠðŁ")  # " " + first two bytes of a 4-byte emoji
    assert texts[partial] == " \\xf0\\x9f"
    assert all("\x00" not in t for t in texts)

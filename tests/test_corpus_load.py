"""add_corpus and `convdiv corpus` against a real PostgreSQL: the study's Pile sample, idempotence, --replace,
bad input leaving nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from convdiv.cli import cli
from convdiv.corpus import frequency as freq
from convdiv.corpus.load import add_corpus, remove_corpus
from convdiv.corpus.tokens import load_tokenizer, tokenize_documents
from convdiv.errors import ConvdivError

SMALL = ["The cat sat on the mat.\nIt purred.", "Dogs don't purr, Zoë said 🏐."]


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("corpus", "vocab_token", "position")
        }


def sequences(engine, corpus: str) -> list[list[int]]:
    """Each document's full token sequence rebuilt from its positions."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT document, idx, context_token_id, target_token_id FROM position JOIN corpus USING (corpus_id) "
                "WHERE name = :n ORDER BY document, idx"
            ),
            {"n": corpus},
        ).all()
    docs: dict[int, list[int]] = {}
    for d, idx, ctx, tgt in rows:
        if idx == 0:
            docs[d] = [ctx]
        docs[d].append(tgt)
    return [docs[d] for d in sorted(docs)]


def test_pile_sample_reproduces_the_study_ids(pythia_tokenizer, pile_sample):
    study = pile_sample.ids
    doc = tokenize_documents(load_tokenizer(pythia_tokenizer), [pile_sample.text], bos=True, eos=True)[0]
    assert len(study) == 4663 and doc.ids[1:-1].tolist() == study[1:-1]
    assert doc.ids.tolist() == study  # BOS 0 + 4,661 ids + EOS 0


def test_pile_sample_loads_with_the_pile_counts(engine, pythia_tokenizer, pile_sample):
    study = pile_sample.ids
    counts_path = pile_sample.counts_path
    counts = freq.load_counts(counts_path, 50277)
    info = add_corpus(
        engine,
        "pile-sample",
        tokenizer=pythia_tokenizer,
        documents=[pile_sample.text],
        bos=True,
        eos=True,
        frequency_counts=counts,
        frequency_label=str(counts_path),
    )
    assert info.created and info.n_documents == 1 and info.n_positions == 4662
    assert table_counts(engine) == {"corpus": 1, "vocab_token": 50277, "position": 4662}
    assert sequences(engine, "pile-sample") == [study]
    with engine.connect() as conn:
        corpus = conn.execute(sa.text("SELECT * FROM corpus")).one()
        assert corpus.n_positions == 4662 and corpus.vocab_size == 50277
        assert corpus.frequency_source == str(counts_path) and corpus.options["bos"] is True
        pos = conn.execute(
            sa.text("SELECT target_token_id, frequency, pos_t, pos_prev FROM position ORDER BY idx")
        ).all()
        vocab = conn.execute(
            sa.text("SELECT token_id, token, frequency, unigram_logprob FROM vocab_token ORDER BY token_id")
        ).all()
    targets = np.array([r.target_token_id for r in pos])
    assert np.array_equal([r.frequency for r in pos], counts[targets])
    assert np.array_equal([r.frequency for r in vocab], counts)
    assert np.allclose([r.unigram_logprob for r in vocab], np.log((counts + 1.0) / (counts.sum() + 50277)))
    assert vocab[15914].token == " Vo"
    # POS(t-1) of x = POS(t) of x-1; the first position (context BOS) has no previous tag
    assert pos[0].pos_prev is None
    assert all(b.pos_prev == a.pos_t for a, b in zip(pos, pos[1:]))
    assert pos[-1].pos_t is None  # EOS
    # the SQL view derives the frequency bins by the rule frequency.frequency_bin_label documents
    with engine.connect() as conn:
        bins = conn.execute(sa.text("SELECT frequency, frequency_bin FROM position_features")).all()
    assert len(bins) == 4662 and all(label == freq.frequency_bin_label(f) for f, label in bins)


def test_self_frequency_is_bincount_and_readd_is_a_noop(engine, pythia_tokenizer):
    info = add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL, bos=True)
    assert info.created and info.n_documents == 2
    seqs = sequences(engine, "small")
    expected = np.bincount(np.concatenate(seqs), minlength=50277)
    with engine.connect() as conn:
        stored = np.array(conn.execute(sa.text("SELECT frequency FROM vocab_token ORDER BY token_id")).scalars().all())
        created = conn.execute(sa.text("SELECT created_at FROM corpus")).scalar_one()
    assert np.array_equal(stored, expected)
    again = add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL, bos=True)
    assert not again.created and again.corpus_id == info.corpus_id and again.n_positions == info.n_positions
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT created_at FROM corpus")).scalar_one() == created
    assert table_counts(engine)["position"] == info.n_positions


def _add_fact(engine, corpus: str) -> None:
    """A checkpoint_token row on the corpus's first position (what an ingest would have written)."""
    with engine.begin() as conn:
        suite = conn.execute(
            sa.text(
                "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('s', 'local', 't', '{}') RETURNING suite_id"
            )
        ).scalar_one()
        model = conn.execute(
            sa.text("INSERT INTO model (suite_id, size) VALUES (:s, 'xs') RETURNING model_id"), {"s": suite}
        ).scalar_one()
        run = conn.execute(
            sa.text("INSERT INTO run (model_id, seed, source) VALUES (:m, 1, 'x') RETURNING run_id"), {"m": model}
        ).scalar_one()
        ckpt = conn.execute(
            sa.text("INSERT INTO checkpoint (run_id, step) VALUES (:r, 0) RETURNING checkpoint_id"), {"r": run}
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO checkpoint_token SELECT :c, position_id, 1, 1, 0, 0 FROM position JOIN corpus USING "
                "(corpus_id) WHERE name = :n AND idx = 0"
            ),
            {"c": ckpt, "n": corpus},
        )


def test_different_content_is_refused_unless_replace(engine, pythia_tokenizer):
    first = add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL)
    _add_fact(engine, "small")
    with pytest.raises(ConvdivError, match="'small' already exists with different content"):
        add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL[:1])
    with pytest.raises(ConvdivError, match="already exists"):  # BOS changes the content too
        add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL, bos=True)
    expected = [d.ids.tolist() for d in tokenize_documents(load_tokenizer(pythia_tokenizer), SMALL)]
    assert sequences(engine, "small") == expected
    second = add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL[:1], replace=True)
    assert second.created and second.replaced and second.facts_removed == 2  # idx 0 of each of the 2 documents
    assert second.corpus_id != first.corpus_id and second.n_documents == 1
    counts = table_counts(engine)
    assert counts["corpus"] == 1 and counts["position"] == second.n_positions
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM checkpoint_token")).scalar_one() == 0


def test_remove_corpus(engine, pythia_tokenizer):
    from convdiv.warehouse import aggregates

    add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL)
    _add_fact(engine, "small")
    aggregates.rebuild(engine)
    stats = sa.text("SELECT count(*) FROM checkpoint_stats")
    with engine.connect() as conn:
        assert conn.execute(stats).scalar_one() > 0
    assert remove_corpus(engine, "small") == 2  # idx 0 of both documents
    with engine.connect() as conn:  # its facts and aggregates went with it
        assert conn.execute(stats).scalar_one() == 0
    assert table_counts(engine) == {"corpus": 0, "vocab_token": 0, "position": 0}
    with pytest.raises(ConvdivError, match="no corpus named 'small'"):
        remove_corpus(engine, "small")


# ------------------------------------------------------------------------------------------------ CLI


def invoke(db_url, *args):
    return CliRunner().invoke(cli, ["--database-url", db_url, "corpus", *args])


def test_cli_add_list_remove(db_url, engine, tmp_path, pythia_tokenizer):
    text = tmp_path / "docs.txt"
    text.write_text("<|endoftext|>".join(SMALL), encoding="utf-8")
    other = tmp_path / "freq.txt"
    other.write_text("The the the cat.", encoding="utf-8")
    result = invoke(
        db_url,
        "add",
        "small",
        "--tokenizer",
        pythia_tokenizer,
        "--text",
        str(text),
        "--bos",
        "--frequency-corpus",
        str(other),
    )
    assert result.exit_code == 0, result.output
    assert "added 2 documents" in result.output
    tok = load_tokenizer(pythia_tokenizer)
    freq_ids = tokenize_documents(tok, ["The the the cat."], bos=True)[0].ids
    expected = np.bincount(freq_ids, minlength=len(tok))
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT frequency FROM vocab_token ORDER BY token_id")).scalars().all()
        source = conn.execute(sa.text("SELECT frequency_source FROM corpus")).scalar_one()
    assert np.array_equal(stored, expected) and "freq.txt" in source
    assert (
        "nothing to do"
        in invoke(
            db_url,
            "add",
            "small",
            "--tokenizer",
            pythia_tokenizer,
            "--text",
            str(text),
            "--bos",
            "--frequency-corpus",
            str(other),
        ).output
    )
    listing = invoke(db_url, "list")
    assert listing.exit_code == 0 and "small" in listing.output
    replaced = invoke(db_url, "add", "small", "--tokenizer", pythia_tokenizer, "--text", str(text), "--replace")
    assert replaced.exit_code == 0 and "replaced" in replaced.output and "fact rows" in replaced.output
    removed = invoke(db_url, "remove", "small")
    assert removed.exit_code == 0 and table_counts(engine)["corpus"] == 0


def test_cli_counts_file(db_url, engine, tmp_path, pile_sample, pythia_tokenizer):
    text = tmp_path / "docs.txt"
    text.write_text(SMALL[0], encoding="utf-8")
    counts = pile_sample.counts_path
    result = invoke(
        db_url, "add", "c", "--tokenizer", pythia_tokenizer, "--text", str(text), "--frequency-counts", str(counts)
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT frequency FROM vocab_token ORDER BY token_id")).scalars().all()
    assert np.array_equal(stored, np.load(counts))


@pytest.mark.parametrize("case", ["empty", "non_utf8", "missing_tokenizer", "missing_spacy_model", "bad_counts"])
def test_bad_input_is_one_error_naming_the_culprit_and_writes_nothing(db_url, engine, tmp_path, pythia_tokenizer, case):
    good = tmp_path / "good.txt"
    good.write_text(SMALL[0], encoding="utf-8")
    args = ["add", "c", "--tokenizer", pythia_tokenizer, "--text", str(good)]
    if case == "empty":
        (tmp_path / "empty.txt").write_text("")
        args[-1], culprit = str(tmp_path / "empty.txt"), "empty.txt"
    elif case == "non_utf8":
        (tmp_path / "cp1252.txt").write_bytes("na\xefve caf\xe9".encode("latin-1"))
        args[-1], culprit = str(tmp_path / "cp1252.txt"), "cp1252.txt"
    elif case == "missing_tokenizer":
        args[3], culprit = str(tmp_path / "no-such-tokenizer"), "no-such-tokenizer"
    elif case == "missing_spacy_model":
        args += ["--spacy-model", "xx_no_such_model"]
        culprit = "xx_no_such_model"
    else:
        np.save(tmp_path / "short.npy", np.ones(10, dtype=np.int64))
        args += ["--frequency-counts", str(tmp_path / "short.npy")]
        culprit = "short.npy"
    result = invoke(db_url, *args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ConvdivError)
    message = str(result.exception)
    assert culprit in message and "\n" not in message
    assert table_counts(engine) == {"corpus": 0, "vocab_token": 0, "position": 0}


def test_cli_error_is_one_line_on_stderr(db_url, tmp_path, pythia_tokenizer):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    # the installed entry point, as a user runs it
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "convdiv"),
            "--database-url",
            db_url,
            "corpus",
            "add",
            "x",
            "--tokenizer",
            pythia_tokenizer,
            "--text",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "latin1.txt is not UTF-8" in lines[0], proc.stderr


def test_a_failure_mid_copy_leaves_the_old_corpus_untouched(engine, pythia_tokenizer):
    """A real server-side error in the middle of the position COPY (a trigger) rolls back the whole replace."""
    first = add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=SMALL)
    before = sequences(engine, "small")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION fail_on_doc1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.document = 1 AND NEW.idx = 3 THEN RAISE EXCEPTION 'injected failure'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TRIGGER fail BEFORE INSERT ON position FOR EACH ROW "
                "WHEN (NEW.corpus_id <> " + str(first.corpus_id) + ") EXECUTE FUNCTION fail_on_doc1()"
            )
        )
    with pytest.raises(Exception, match="injected failure"):
        add_corpus(engine, "small", tokenizer=pythia_tokenizer, documents=list(reversed(SMALL)), replace=True)
    assert sequences(engine, "small") == before
    assert table_counts(engine) == {"corpus": 1, "vocab_token": 50277, "position": first.n_positions}

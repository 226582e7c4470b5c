"""Fault: impossible ingest and corpus knobs (zero, negative, a context of one token, a context longer than the
models take).

Each is refused in one line naming the flag, before the ledger is touched or any model is loaded: nothing is
registered, claimed or flipped to 'failed' (before, zeros silently became defaults and `--context-length 1
--force` failed only after claiming units, turning done units into failed ones).
"""

from __future__ import annotations

import psycopg
import pytest

from convdiv.errors import ConvdivError
from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq

BAD = [
    ("--batch-tokens", "0"),
    ("--batch-tokens", "-8"),
    ("--workers", "0"),
    ("--workers", "-2"),
    ("--context-length", "0"),
    ("--context-length", "1"),
    ("--context-length", "-5"),
    ("--memory-gb", "0"),
    ("--memory-gb", "-1"),
]


def _ledger(db_url):
    with psycopg.connect(libpq(db_url)) as conn:
        return (
            conn.execute("SELECT unit_key, status, finished_at FROM ingest_unit ORDER BY 1").fetchall(),
            conn.execute("SELECT count(*) FROM ingest_run").fetchone()[0],
            conn.execute("SELECT count(*) FROM suite").fetchone()[0],
        )


def test_bad_ingest_flags_are_refused_before_the_ledger(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    for flag, value in BAD:
        proc = convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            S.CORPUS,
            flag,
            value,
            "--no-progress",
            database_url=db_url,
            data_dir=tmp_path / "data",
        )
        line = one_error_line(proc)
        assert flag in line and value in line, line
    assert _ledger(db_url) == ([], 0, 0)


@pytest.mark.parametrize(
    "arguments",
    [
        dict(batch_tokens=0),
        dict(workers=0),
        dict(context_length=1),
        dict(memory_budget_gb=0),
        dict(memory_budget_gb=-2.5),
        dict(context_length=100_000),
    ],
)
def test_bad_arguments_of_the_ingest_call(engine, settings, db_url, suite_root, arguments):
    """The library call checks too (the CLI is not the only caller); 100000 exceeds the models' 128 positions."""
    S.add_tiny_corpus(engine, suite_root)
    with pytest.raises(ConvdivError) as info:
        ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0", progress=False, **arguments)
    assert "\n" not in str(info.value) and "--" in str(info.value)
    assert _ledger(db_url) == ([], 0, 0)


def test_context_length_one_with_force_leaves_done_units_done(engine, settings, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,1", progress=False)
    before = _ledger(db_url)
    assert [status for _, status, _ in before[0]] == ["done", "done"]
    for length in ("1", "1000"):
        proc = convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            S.CORPUS,
            "--sizes",
            "xs",
            "--steps",
            "0,1",
            "--context-length",
            length,
            "--force",
            "--no-progress",
            database_url=db_url,
            data_dir=tmp_path / "data",
        )
        assert "--context-length" in one_error_line(proc)
    assert _ledger(db_url) == before


@pytest.mark.parametrize("alpha", ["0", "-1"])
def test_bad_corpus_alpha_is_refused_before_reading_anything(db_url, tmp_path, alpha):
    proc = convdiv(
        "corpus",
        "add",
        "c",
        "--tokenizer",
        str(tmp_path / "no-tokenizer"),
        "--text",
        str(tmp_path / "missing.txt"),
        "--alpha",
        alpha,
        database_url=db_url,
        data_dir=tmp_path / "data",
    )
    assert "--alpha" in one_error_line(proc)

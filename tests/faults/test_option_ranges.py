"""Fault: every numeric option and environment knob given 0, -1, a huge value, a non-number, NaN or infinity.

Before, `--batch-tokens 99999999999` passed validation, computed for 12-37 s, failed on the 4-byte column and turned
a done unit into failed. Every numeric option of `ingest`, `corpus add`, `export` and the global options now has a
range that fits the columns and the memory (convdiv/bounds.py), checked when the command line is parsed: one line
naming the option, exit != 0, nothing registered, no model loaded. (`report` has no numeric option.) The command
line runs in-process (`convdiv.cli.main`, the entry point itself): these fail before any work, so each takes
milliseconds. Also: an option equal to its default keeps the units' configuration hash, and more workers than
cores is one warning.
"""

from __future__ import annotations

import os
import sys

import psycopg
import pytest

from convdiv.cli import main
from convdiv.ingest.register import prepare
from convdiv.ingest.request import IngestRequest
from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.databases import libpq

BAD_VALUES = ["0", "-1", "99999999999999999999", "1e300", "abc", "nan", "inf"]
# (the command with what it needs to parse, the option); no words: a global option
OPTIONS = [
    (["ingest", "no-such-suite", "--corpus", "c"], "--batch-tokens"),
    (["ingest", "no-such-suite", "--corpus", "c"], "--context-length"),
    (["ingest", "no-such-suite", "--corpus", "c"], "--workers"),
    (["ingest", "no-such-suite", "--corpus", "c"], "--memory-gb"),
    (["ingest", "no-such-suite", "--corpus", "c", "--follow"], "--poll-seconds"),
    (["corpus", "add", "c", "--tokenizer", "t", "--text", "missing.txt"], "--alpha"),
    (["corpus", "add", "c", "--tokenizer", "t", "--text", "missing.txt"], "--max-text-mb"),
    (["export", "out-dir"], "--batch-rows"),
    ([], "--progress-every"),
]
ENVIRONMENT = ["CONVDIV_LEASE_SECONDS", "CONVDIV_LOCK_TIMEOUT"]


def _main(capsys, monkeypatch, args, env=None):
    """``convdiv ARGS`` in this process: (exit status, stderr lines)."""
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["convdiv", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def _ledger(db_url):
    with psycopg.connect(libpq(db_url)) as conn:
        return [
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("suite", "corpus", "ingest_run", "ingest_unit")
        ]


def test_every_numeric_option_is_bounded(db_url, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CONVDIV_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    for words, option in OPTIONS:
        for value in BAD_VALUES:
            # a global option goes before the command
            args = [*words, option, value] if words else [option, value, "db", "status"]
            status, lines = _main(capsys, monkeypatch, args)
            assert status not in (0, None) and len(lines) == 1, (option, value, lines)
            assert lines[0].startswith("convdiv: error:") and option in lines[0], (option, value, lines)
            assert "Traceback" not in lines[0] and len(lines[0]) < 300, lines[0]
    assert _ledger(db_url) == [0, 0, 0, 0]


@pytest.mark.parametrize("name", ENVIRONMENT)
def test_every_numeric_environment_knob_is_bounded(db_url, tmp_path, capsys, monkeypatch, name):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("CONVDIV_DATA_DIR", str(tmp_path / "data"))
    for value in BAD_VALUES:
        status, lines = _main(capsys, monkeypatch, ["db", "status"], env={name: value})
        assert status == 1 and len(lines) == 1 and name in lines[0], (value, lines)
    assert _ledger(db_url) == [0, 0, 0, 0]


def test_options_equal_to_their_defaults_recompute_nothing(engine, settings, db_url, suite_root):
    """The tiny models take 128 positions: `--context-length 128` is the default; 64 is not (the test can fail)."""
    S.add_tiny_corpus(engine, suite_root)
    first = ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0", progress=False)
    assert first.units_done == 1
    again = ingest(
        engine,
        settings,
        str(suite_root),
        S.CORPUS,
        sizes="xs",
        steps="0",
        progress=False,
        context_length=128,
        batch_tokens=8192,
        workers=1,
    )
    assert again.units_done == 0 and again.units_skipped == 1
    other = ingest(
        engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0", progress=False, context_length=64
    )
    assert other.units_done == 1


def test_more_workers_than_cores_is_one_warning(engine, settings, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    cores = os.cpu_count() or 1
    request = IngestRequest(str(suite_root), S.CORPUS, sizes="xs", steps="0", workers=cores + 1)
    warnings = [w for w in prepare(engine, settings, request).warnings if "--workers" in w]
    assert len(warnings) == 1 and f"{cores} CPU core" in warnings[0], warnings
    request = IngestRequest(str(suite_root), S.CORPUS, sizes="xs", steps="0", workers=cores)
    assert not [w for w in prepare(engine, settings, request).warnings if "--workers" in w]

"""Faults: a name thousands of characters long, an unknown name among many, a schema changed by hand.

Before, a 5,000-character corpus name was accepted and a later unknown-corpus error listed every name in full
(a 5 kB line); `db status` said `up to date` with a column and a view dropped by hand. Now names are bounded (63
characters, PostgreSQL's identifier limit), errors show a name cut to 60 characters and lists cut to five entries
with a count, and `db status` lists the drift as `db check` does and exits 1.
"""

from __future__ import annotations

import json

import psycopg

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq


def test_long_names_are_refused_and_lists_cut(engine, db_url, suite_root, tmp_path):
    for i in range(12):
        S.add_tiny_corpus(engine, suite_root, name=f"corpus-{i:02d}-" + "x" * 50)
    unknown = "y" * 5_000
    args = ("ingest", str(suite_root), "--corpus", unknown, "--sizes", "xs", "--steps", "0", "--no-progress")
    line = one_error_line(convdiv(*args, database_url=db_url, data_dir=tmp_path / "data"))
    assert "unknown corpus" in line and "5,000 characters" in line and "and 7 more" in line, line
    assert len(line) < 800, len(line)
    line = one_error_line(
        convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            "corpus-00-" + "x" * 50,
            "--name",
            "n" * 64,
            "--no-progress",
            database_url=db_url,
            data_dir=tmp_path / "data",
        )
    )
    assert "--name" in line and "at most 63" in line, line
    with psycopg.connect(libpq(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM suite").fetchone() == (0,)


def test_db_status_reports_drift_as_db_check_does(db_url, tmp_path):
    ok = convdiv("db", "status", database_url=db_url, data_dir=tmp_path / "data")
    assert ok.returncode == 0 and "up to date" in ok.stdout, ok.stderr
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE ingest_run DROP COLUMN aborted_reason")
        conn.execute("DROP VIEW expected_kl CASCADE")
    status = convdiv("db", "status", database_url=db_url, data_dir=tmp_path / "data")
    check = convdiv("db", "check", database_url=db_url, data_dir=tmp_path / "data")
    assert one_error_line(status) == one_error_line(check)
    assert "schema differs" in one_error_line(status)
    drift = [line for line in status.stdout.splitlines() if line.startswith("schema drift:")]
    assert drift and drift == [line for line in check.stdout.splitlines() if line.startswith("schema drift:")]
    assert "DRIFT" in status.stdout and "up to date" not in status.stdout
    as_json = convdiv("db", "status", "--json", database_url=db_url, data_dir=tmp_path / "data")
    assert as_json.returncode == 1 and len(json.loads(as_json.stdout)["schema_drift"]) == len(drift)

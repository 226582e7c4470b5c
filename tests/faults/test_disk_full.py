"""Fault: the database server's disk fills up while an ingest publishes.

The server's own "No space left on device" failure cannot be produced on a shared test server without filling its
disk, so a trigger on ``checkpoint_token`` raises the same error (SQLSTATE 53100 disk_full, the message PostgreSQL
writes) inside the real publish statement. convdiv shows one line naming the full disk and the fix; the units
published before stay done, and once space is back a re-run completes the rest.
"""

from __future__ import annotations

import psycopg

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq

DISK_FULL = """
CREATE FUNCTION fault_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'could not extend file "base/16384/16999": No space left on device'
    USING ERRCODE = 'disk_full', HINT = 'Check free disk space.';
END $$;
CREATE TRIGGER fault_disk_full BEFORE INSERT ON checkpoint_token FOR EACH STATEMENT EXECUTE FUNCTION fault_disk_full();
"""


def _done(db_url):
    with psycopg.connect(libpq(db_url)) as conn:
        return sorted(k for (k,) in conn.execute("SELECT unit_key FROM ingest_unit WHERE status = 'done'"))


def test_disk_full_during_publish(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    args = ("ingest", str(suite_root), "--corpus", S.CORPUS, "--sizes", "xs", "--no-progress")
    first = convdiv(*args, "--steps", "0,1", database_url=db_url, data_dir=tmp_path / "data")
    assert first.returncode == 0, first.stderr
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute(DISK_FULL)

    # Two worker processes: the failure is translated in the worker process and reported once by the parent.
    full = convdiv(*args, "--workers", "2", database_url=db_url, data_dir=tmp_path / "data")
    line = one_error_line(full)
    assert "disk is full" in line and "free space" in line, line
    assert _done(db_url) == ["size=xs/step=0", "size=xs/step=1"]

    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute("DROP TRIGGER fault_disk_full ON checkpoint_token")
    again = convdiv(*args, database_url=db_url, data_dir=tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert _done(db_url) == sorted(f"size=xs/step={t}" for t in S.STEPS)

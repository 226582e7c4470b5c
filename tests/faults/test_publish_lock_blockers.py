"""Fault: an ingest's publish waits for a lock that a maintenance session holds, while an older reader sits idle
in its transaction and blocks nothing.

Before, a lock timeout inside the publish named the sessions with an open transaction, oldest first: the idle reader
first, beside the real blocker. Now a watcher asks the server who blocks the publishing session
(``pg_blocking_pids``) while it waits, and the line names only that session; the unit stays unpublished.
"""

from __future__ import annotations

import psycopg

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq


def test_publish_lock_wait_names_only_the_session_that_blocks(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    with psycopg.connect(libpq(db_url)) as idle, psycopg.connect(libpq(db_url)) as blocker:
        idle.execute("SELECT count(*) FROM corpus").fetchone()  # the oldest open transaction: blocks nothing
        # SHARE conflicts with the ROW EXCLUSIVE the publish's COPY and deletes need, not with readers
        blocker.execute("LOCK TABLE checkpoint_token IN SHARE MODE")
        proc = convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            S.CORPUS,
            "--sizes",
            "xs",
            "--steps",
            "0",
            "--no-progress",
            database_url=db_url,
            data_dir=tmp_path / "data",
            env={"CONVDIV_LOCK_TIMEOUT": "2"},
        )
        idle_pid, blocker_pid = idle.info.backend_pid, blocker.info.backend_pid
        idle.rollback()
        blocker.rollback()
    assert proc.returncode != 0
    line = one_error_line(proc)
    assert f"pid {blocker_pid}" in line and f"pid {idle_pid}" not in line, line
    assert "CONVDIV_LOCK_TIMEOUT" in line and "ingest unit" in line, line
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 0
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'done'") == 0

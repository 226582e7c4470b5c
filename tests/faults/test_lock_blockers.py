"""Fault: `corpus remove` waits for a lock while one session really blocks it and another only sits idle.

Before, the message named the sessions with an open transaction, oldest first: an idle reader of aggregate views
(which blocks nothing) beside the real blocker. Now the last try asks the server who blocks it (pg_blocking_pids)
and the line names only that session.
"""

from __future__ import annotations

import psycopg

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq


def test_lock_wait_names_only_the_session_that_blocks(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    with psycopg.connect(libpq(db_url)) as idle, psycopg.connect(libpq(db_url)) as blocker:
        idle.execute("SELECT count(*) FROM comparison_stats").fetchone()  # oldest open transaction, blocks nothing
        blocker.execute("SELECT count(*) FROM checkpoint_token").fetchone()  # holds the fact table drop needs
        proc = convdiv(
            "corpus",
            "remove",
            S.CORPUS,
            database_url=db_url,
            data_dir=tmp_path / "data",
            env={"CONVDIV_LOCK_TIMEOUT": "1"},
        )
        idle_pid, blocker_pid = idle.info.backend_pid, blocker.info.backend_pid
        idle.rollback()
        blocker.rollback()
    line = one_error_line(proc)
    assert f"pid {blocker_pid}" in line and f"pid {idle_pid}" not in line, line
    assert "CONVDIV_LOCK_TIMEOUT" in line, line
    with psycopg.connect(libpq(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM corpus").fetchone() == (1,)

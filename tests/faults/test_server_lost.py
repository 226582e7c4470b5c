"""Fault: the server goes away in the middle of an ingest (its connections are terminated inside a unit's publish
transaction, and every later connection is refused).

The worker's real error (the terminated connection) is the one line shown, not the error of a later cleanup step
(marking the unit failed) that fails on the refused connections; the units published
before stay done and the interrupted one is not visible.
"""

from __future__ import annotations

import os
import subprocess
import time

import psycopg

from convdiv.testing import ingest as S
from convdiv.testing.cli import one_error_line
from convdiv.testing.databases import libpq
from convdiv.testing.pause import COMMAND, PAUSE_ENV


def test_server_lost_mid_publish_shows_the_workers_error(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    database = engine.url.database
    signal_file = tmp_path / "paused"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
        PAUSE_ENV: f"2:8:{signal_file}",
    }
    proc = subprocess.Popen(
        [*COMMAND, "ingest", str(suite_root), "--corpus", S.CORPUS, "--sizes", "xs", "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    admin = libpq(db_url).rsplit("/", 1)[0] + "/postgres"
    try:
        deadline = time.monotonic() + 240
        while not signal_file.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the worker never reached its 2nd publish"
            time.sleep(0.1)
        # "The server is gone" for this database: no new connections, every open one terminated.
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    line = one_error_line(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    assert "terminated the connection" in line and "re-run" in line, line
    assert "not currently accepting connections" not in line, line  # a cleanup step's error, not the real one
    with psycopg.connect(S.conninfo(db_url)) as conn:
        done = conn.execute("SELECT unit_key FROM ingest_unit WHERE status = 'done'").fetchall()
        steps = conn.execute(
            "SELECT DISTINCT c.step FROM checkpoint_token JOIN checkpoint c USING (checkpoint_id) ORDER BY 1"
        ).fetchall()
    # The first publish committed (whichever unit the worker took first); the paused second one left nothing.
    assert len(done) == 1, done
    assert steps == [(int(done[0][0].rsplit("=", 1)[1]),)]

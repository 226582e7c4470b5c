"""kill -9 in the middle of a unit's publish transaction: no partial unit is ever visible, and a re-run gives
tables identical to an uninterrupted run, without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.pause import COMMAND, PAUSE_ENV

CONVDIV = str(Path(sys.executable).with_name("convdiv"))


def test_kill_during_publish_then_rerun(engine, settings, db_url, suite_root, tmp_path):
    corpus = S.add_tiny_corpus(engine, suite_root)
    n = S.count(db_url, "SELECT count(*) FROM position WHERE corpus_id = %s", (corpus,))
    args = dict(sizes="xs", progress=False)

    # The uninterrupted reference, then an empty warehouse again (dimensions stay, as they would).
    ingest(engine, settings, str(suite_root), S.CORPUS, **args)
    reference = S.snapshot(db_url)
    assert len(reference["checkpoint_token"]) == len(S.SEEDS) * len(S.STEPS) * n
    with psycopg.connect(S.conninfo(db_url)) as conn:
        conn.execute("TRUNCATE checkpoint_token, pair_token")
        conn.execute("DELETE FROM ingest_unit")

    # A worker that stops for good inside the transaction of its 3rd unit (rows inserted, not committed). Units
    # publish in plan order, the size's last step first: 16, 0, then 1.
    signal_file = tmp_path / "paused"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
        PAUSE_ENV: f"3:600:{signal_file}",
    }
    proc = subprocess.Popen(
        [*COMMAND, "ingest", str(suite_root), "--corpus", S.CORPUS, "--sizes", "xs", "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not signal_file.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the worker never reached its 3rd publish"
            time.sleep(0.2)
        # A concurrent reader sees exactly the two committed units, nothing of the third.
        with psycopg.connect(S.conninfo(db_url)) as reader:
            done = reader.execute("SELECT unit_key FROM ingest_unit WHERE status = 'done' ORDER BY unit_key").fetchall()
            assert [k for (k,) in done] == ["size=xs/step=0", "size=xs/step=16"]
            steps = reader.execute(
                "SELECT c.step, count(*) FROM checkpoint_token JOIN checkpoint c"
                " USING (checkpoint_id) GROUP BY 1 ORDER BY 1"
            ).fetchall()
            assert steps == [(0, len(S.SEEDS) * n), (16, len(S.SEEDS) * n)]
            running = reader.execute(
                "SELECT count(*) FROM ingest_unit WHERE unit_key = 'size=xs/step=1' AND status = 'running'"
            ).fetchone()[0]
            assert running == 1
        os.kill(int(signal_file.read_text()), signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # After the crash: still only the two committed units, and nothing half-written.
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * len(S.SEEDS) * n

    summary = ingest(engine, settings, str(suite_root), S.CORPUS, **args)
    assert (summary.units_done, summary.units_skipped, summary.units_failed) == (2, 2, 0)
    assert S.snapshot(db_url) == reference
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status <> 'done'") == 0

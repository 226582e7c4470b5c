"""Fault: one of several worker processes (`--workers 2`) killed with kill -9 while it computes. The other worker
finishes its own units; the dead worker's units are given back (its pid is gone) and done by the same run; the
command exits 0 with every unit done, a warning naming the dead worker, and counts read from the ledger."""

from __future__ import annotations

import os
import re
import signal

from convdiv.testing import ingest as S

SIZES, STEPS = ("xs", "s"), (0, 1, 4)
ARGS = [
    "--sizes",
    ",".join(SIZES),
    "--steps",
    ",".join(map(str, STEPS)),
    "--workers",
    "2",
    "--memory-gb",
    "0.001",  # one unit per claim: each worker holds one unit when it pauses
    "--no-progress",
]


def test_kill_9_of_one_worker_fails_nobody_elses_units(engine, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    # both worker processes pause at their first extract pass; the file names the last one to get there
    proc, pid = S.start_paused_ingest(db_url, suite_root, tmp_path, ARGS, "compute", 6)
    assert pid != proc.pid  # a worker process, not the command
    os.kill(pid, signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "BrokenProcessPool" not in err + out and "Traceback" not in err
    units = len(SIZES) * len(STEPS)
    assert re.search(rf"ingest worker \d \(pid {pid}\) died \(killed by SIGKILL\)", out), out
    assert f": {units} done, 0 skipped (already done), 0 done by other workers, 0 failed" in out, out
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'done'") == units
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == len(SIZES) * len(S.SEEDS) * len(STEPS) * n
    # the dead worker's run is aborted (its pid gone), the others finished
    assert (
        S.count(db_url, "SELECT count(*) FROM ingest_run WHERE status = 'aborted' AND host LIKE %s", (f"%:{pid}",)) == 1
    )
    assert S.count(db_url, "SELECT count(*) FROM ingest_run WHERE status = 'running'") == 0

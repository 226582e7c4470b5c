"""Ledger leases: a dead or hung worker's run is aborted and its units go to another worker.

- same host, ``kill -9``: the next ingest (or ``db status``) sees the worker's pid is gone and aborts its run at
  once; after the completed re-run no run is left 'running';
- a worker that stops answering (SIGSTOP: like a hung machine or a half-open connection, its session and its unit
  locks stay) is fenced off only by its lease: once the lease expires, a second worker aborts its run, ends the
  session holding the locks, takes its units and completes them; ``db status --json`` lists the aborted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq
from convdiv.testing.pause import COMMAND, PAUSE_ENV
from convdiv.warehouse import ledger
from convdiv.warehouse.ledger import LEASE_ENV

ARGS = ["--sizes", "xs", "--steps", "0,1", "--no-progress"]


def _start_paused_worker(db_url: str, suite_root: Path, tmp_path: Path, lease_s: float | None = None):
    """`convdiv ingest` that pauses before its first extract pass, its first group claimed; returns (proc, pid)."""
    signal_file = tmp_path / "paused"
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
        PAUSE_ENV: f"compute@1:600:{signal_file}",
    }
    if lease_s is not None:
        env[LEASE_ENV] = str(lease_s)
    proc = subprocess.Popen(
        [*COMMAND, "ingest", str(suite_root), "--corpus", S.CORPUS, *ARGS],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not signal_file.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "the worker never reached its first extract pass"
        time.sleep(0.2)
    return proc, int(signal_file.read_text())


def _rows(db_url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(libpq(db_url)) as conn:
        return conn.execute(sql, params).fetchall()


def _held_units(db_url: str, run_id: int) -> list[str]:
    return [
        k
        for (k,) in _rows(
            db_url,
            "SELECT unit_key FROM ingest_unit WHERE ingest_run_id = %s AND status = 'running' ORDER BY 1",
            (run_id,),
        )
    ]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=60)


def test_killed_worker_on_this_host_is_aborted_at_once(engine, settings, db_url, suite_root, tmp_path):
    S.add_tiny_corpus(engine, suite_root)
    proc, pid = _start_paused_worker(db_url, suite_root, tmp_path)
    try:
        ((run_id, status),) = _rows(db_url, "SELECT ingest_run_id, status FROM ingest_run")
        held = _held_units(db_url, run_id)
        assert status == "running" and held
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        _stop(proc)

    # The default 60 s lease has not expired: only the dead pid tells db status to abort the run.
    result = convdiv("db", "status", "--json", database_url=db_url, data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["ingest_runs"]
    assert runs["aborted_now"] == [run_id] and runs["counts"] == {"aborted": 1}
    (shown,) = runs["runs"]
    assert shown["ingest_run_id"] == run_id and shown["state"] == "aborted" and shown["units_running"] == 0
    assert f":{pid} is gone" in shown["reason"]
    assert _rows(db_url, "SELECT DISTINCT status FROM ingest_unit WHERE unit_key = ANY(%s)", (held,)) == [("pending",)]
    text = convdiv("db", "status", database_url=db_url, data_dir=tmp_path / "data")
    assert text.returncode == 0 and "aborted" in text.stdout and str(pid) in text.stdout

    # The re-run on the same host completes everything; no run is left 'running'.
    summary = ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,1", progress=False)
    assert summary.units_failed == 0 and summary.units_done == 2
    assert _rows(db_url, "SELECT status, count(*) FROM ingest_run GROUP BY 1 ORDER BY 1") == [
        ("aborted", 1),
        ("done", 1),
    ]
    assert _rows(db_url, "SELECT DISTINCT status FROM ingest_unit") == [("done",)]


def test_the_next_ingest_aborts_a_killed_worker_itself(engine, settings, db_url, suite_root, tmp_path):
    """Without any db status in between: the re-run's own start aborts the dead run (and says so)."""
    S.add_tiny_corpus(engine, suite_root)
    proc, pid = _start_paused_worker(db_url, suite_root, tmp_path)
    try:
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        _stop(proc)
    notes: list[str] = []
    summary = ingest(
        engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,1", progress=False, notes=notes.append
    )
    assert summary.units_done == 2
    assert any(n.startswith("aborted ingest run") and f":{pid}" in n for n in notes), notes
    assert _rows(db_url, "SELECT count(*) FROM ingest_run WHERE status = 'running'") == [(0,)]


def test_expired_lease_gives_a_hung_workers_units_to_another(
    engine, settings, db_url, suite_root, tmp_path, monkeypatch
):
    S.add_tiny_corpus(engine, suite_root)
    proc, pid = _start_paused_worker(db_url, suite_root, tmp_path, lease_s=2)
    try:
        ((run_a,),) = _rows(db_url, "SELECT ingest_run_id FROM ingest_run")
        held = _held_units(db_url, run_a)
        assert held
        os.kill(pid, signal.SIGSTOP)  # hung: its session and unit locks stay, its heartbeats stop
        # While A's lease runs, its units are its own: a claim by another worker finds nothing of them.
        units = _rows(db_url, "SELECT unit_id FROM ingest_unit WHERE unit_key = ANY(%s)", (held,))
        candidates = [ledger.Candidate(u, "h", "g") for (u,) in units]
        monkeypatch.setenv(LEASE_ENV, "600")
        deadline = time.monotonic() + 300
        while True:
            assert time.monotonic() < deadline, "A's units never became claimable after its lease"
            other = ledger.claim(libpq(db_url), candidates, ledger.start_run(libpq(db_url), {}, "test"), limit=10)
            ((status,),) = _rows(db_url, "SELECT status FROM ingest_run WHERE ingest_run_id = %s", (run_a,))
            if other is not None:  # only because the claim found A's lease over and aborted A first
                assert status == "aborted", "a unit held under a live lease was claimed"
                other.abandon()
                other.release()
                break
            assert status == "running"
            time.sleep(0.5)
        with psycopg.connect(libpq(db_url)) as conn:  # the probing runs above: not part of the story
            conn.execute("DELETE FROM ingest_run WHERE convdiv_version = 'test'")

        # Lease over: A's run is aborted, its session ended; a second worker takes its units and completes them.
        summary = ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,1", progress=False)
        assert summary.units_failed == 0 and summary.units_done == 2
        ((run_b,),) = _rows(db_url, "SELECT ingest_run_id FROM ingest_run WHERE status = 'done'")
        assert _rows(db_url, "SELECT DISTINCT status, ingest_run_id FROM ingest_unit") == [("done", run_b)]
        ((status, reason),) = _rows(
            db_url, "SELECT status, aborted_reason FROM ingest_run WHERE ingest_run_id = %s", (run_a,)
        )
        assert status == "aborted" and reason.startswith("lease expired")

        result = convdiv("db", "status", "--json", database_url=db_url, data_dir=tmp_path / "data")
        assert result.returncode == 0, result.stderr
        runs = json.loads(result.stdout)["ingest_runs"]
        assert runs["counts"] == {"aborted": 1, "done": 1}
        assert [(r["ingest_run_id"], r["state"]) for r in runs["runs"]] == [(run_a, "aborted")]
        assert runs["runs"][0]["reason"].startswith("lease expired")
    finally:
        os.kill(pid, signal.SIGKILL)  # kill -9 works on a stopped process too
        _stop(proc)
    assert _rows(db_url, "SELECT count(*) FROM ingest_run WHERE status = 'running'") == [(0,)]


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan"])
def test_bad_lease_setting_is_one_line(db_url, suite_root, tmp_path, value):
    proc = convdiv(
        "ingest",
        str(suite_root),
        "--corpus",
        "none",
        "--no-progress",
        database_url=db_url,
        data_dir=tmp_path / "data",
        env={LEASE_ENV: value},
    )
    assert LEASE_ENV in one_error_line(proc)


def test_the_pause_is_a_hook_the_tests_install(tmp_path, monkeypatch):
    """The fault tests' pause lives in convdiv.testing.pause: the product only runs the ledger's hooks (none unless a
    test installs one) and never reads the pause's variable; the hook pauses at the N-th passage of its stage."""
    from convdiv.testing.pause import Pause, install

    package = Path(ledger.__file__).resolve().parents[1]
    readers = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py") if PAUSE_ENV in p.read_text())
    assert readers == ["testing/pause.py"]

    signal_file = tmp_path / "paused"
    pause = Pause(f"compute@2:0:{signal_file}")
    monkeypatch.setattr(ledger, "hooks", [pause])
    for stage in ("compute", "publish", "register"):
        ledger.reached(stage)
    assert not signal_file.exists()  # only the first passage through compute so far
    ledger.reached("compute")
    assert signal_file.read_text() == str(os.getpid())
    assert Pause(f"1:0:{signal_file}").stage == "publish"  # the default stage

    monkeypatch.setenv(PAUSE_ENV, f"between@1:0:{signal_file}")
    monkeypatch.setattr(ledger, "hooks", [])
    install()
    install()  # once
    assert [type(h) for h in ledger.hooks] == [Pause] and ledger.hooks[0].stage == "between"

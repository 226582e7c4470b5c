"""The embedded default server: starts, is shared by concurrent processes, stops, keeps data, no TCP.

These tests run convdiv as real subprocesses with DATABASE_URL removed from the environment, so they exercise
exactly what a user without a database gets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

CONVDIV = [sys.executable, "-m", "convdiv"]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONVDIV_TEST_SERVER"}}
    env["CONVDIV_DATA_DIR"] = str(data_dir)
    return env


def _run(args, data_dir, **kw):
    return subprocess.run([*CONVDIV, *args], env=_env(data_dir), capture_output=True, text=True, timeout=120, **kw)


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmd):
            found.append(proc)
    return found


def _wait_stopped(pgdata: Path, timeout: float = 20) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not _postmasters(pgdata):
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def data_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("embedded") / "data"
    yield d
    for proc in _postmasters(d / "pgdata"):  # never leave a server behind, even when a test fails
        proc.kill()


def test_embedded_lifecycle_and_data_survive_restart(data_dir):
    up = _run(["db", "upgrade"], data_dir)
    assert up.returncode == 0, up.stderr
    url = _run(["db", "url"], data_dir)
    assert url.returncode == 0 and "host=" in url.stdout and "5432" not in url.stdout.replace("PGSQL.5432", "")
    # the last holder exited: the server stopped cleanly
    assert _wait_stopped(data_dir / "pgdata")

    # write through psql on the embedded server, then read back after a restart
    put = _run(
        [
            "db",
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('kept', 'local', 't', '{}')",
        ],
        data_dir,
    )
    assert put.returncode == 0, put.stderr
    assert _wait_stopped(data_dir / "pgdata")
    status = _run(["db", "status"], data_dir)
    assert status.returncode == 0, status.stderr
    assert "up to date" in status.stdout
    got = _run(["db", "psql", "-At", "-c", "SELECT name FROM suite"], data_dir)
    assert got.stdout.strip() == "kept"


def test_embedded_never_listens_on_tcp_and_is_shared(data_dir):
    assert _run(["db", "upgrade"], data_dir).returncode == 0
    # Process A holds the server (a psql session sleeping until it is cancelled: a fixed sleep could end before B
    # does on a loaded machine), while B runs a full command and exits.
    holder = subprocess.Popen(
        [*CONVDIV, "db", "psql", "-c", "SELECT pg_sleep(600) AS holder"],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while not _postmasters(data_dir / "pgdata") and time.time() < deadline:
            time.sleep(0.1)
        procs = _postmasters(data_dir / "pgdata")
        assert procs, "embedded server did not start"
        for proc in procs:
            tcp = [c for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            assert tcp == [], f"embedded server listens on TCP: {tcp}"
        listen = _run(["db", "psql", "-At", "-c", "SHOW listen_addresses"], data_dir)
        assert listen.returncode == 0 and listen.stdout.strip() == ""
        # B exited while A still holds the server: it must still be running for A
        assert _postmasters(data_dir / "pgdata")
        assert holder.poll() is None, "the holder ended before B had finished"
        cancel = _run(
            [
                "db",
                "psql",
                "-At",
                "-c",
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%AS holder' "
                "AND pid <> pg_backend_pid()",
            ],
            data_dir,
        )
        assert cancel.returncode == 0 and cancel.stdout.strip() == "t", cancel.stderr
        out, err = holder.communicate(timeout=60)
        assert "canceling statement due to user request" in err, err
    finally:
        if holder.poll() is None:
            holder.kill()
    assert _wait_stopped(data_dir / "pgdata")


def test_concurrent_processes_share_one_server(data_dir):
    assert _run(["db", "upgrade"], data_dir).returncode == 0
    procs = [
        subprocess.Popen(
            [*CONVDIV, "db", "status"], env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "up to date" in out
    assert _wait_stopped(data_dir / "pgdata")


def test_dead_holder_does_not_keep_server_alive(data_dir):
    """A convdiv killed with -9 leaves its pid in the holder list; the next run prunes it and still stops."""
    assert _run(["db", "upgrade"], data_dir).returncode == 0
    victim = subprocess.Popen(
        [*CONVDIV, "db", "psql", "-c", "SELECT pg_sleep(30)"],
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not _postmasters(data_dir / "pgdata") and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    victim.kill()
    victim.wait()
    assert _run(["db", "status"], data_dir).returncode == 0
    assert _wait_stopped(data_dir / "pgdata")

"""`convdiv db serve`: the embedded server stays up for psql, pandas and convdiv.connect on the printed URL, survives
other commands exiting, and stops cleanly on SIGTERM with no server process left behind."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import sqlalchemy as sa

import convdiv
from convdiv.testing.cli import CONVDIV_MODULE, run_cli


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(attrs=["name", "cmdline"])
        if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
    ]


def _wait(condition, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _first_line(proc: subprocess.Popen, timeout: float = 120) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        raise AssertionError("db serve printed no URL in time")
    return proc.stdout.readline().strip()


@pytest.fixture
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve") / "data"
    yield d
    for proc in _postmasters(d / "pgdata"):  # never leave a server behind, even when a test fails
        proc.kill()


def test_db_serve_until_sigterm(data_dir):
    assert run_cli(["db", "upgrade"], None, data_dir=data_dir).returncode == 0
    pgdata = data_dir / "pgdata"
    assert _wait(lambda: not _postmasters(pgdata))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONVDIV_TEST_SERVER"}}
    env["CONVDIV_DATA_DIR"] = str(data_dir)
    server = subprocess.Popen(
        [*CONVDIV_MODULE, "db", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _first_line(server)
        assert url == f"postgresql://postgres@/convdiv?host={pgdata}"
        assert _postmasters(pgdata)

        insert = "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('served', 'local', 't', '{}')"
        put = subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-c", insert], capture_output=True, text=True, timeout=60
        )
        assert put.returncode == 0, put.stderr
        # another convdiv command joins the served server and exits: the server stays up
        status = run_cli(["db", "status"], None, data_dir=data_dir)
        assert status.returncode == 0 and "up to date" in status.stdout, status.stderr
        assert _postmasters(pgdata)

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        frame = pd.read_sql("SELECT name, source FROM suite", engine)
        engine.dispose()
        assert frame.to_dict("records") == [{"name": "served", "source": "local"}]
        with convdiv.connect(url) as wh:  # the plain libpq URL is accepted as is
            assert list(wh.suites()["suite"]) == ["served"]

        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "Traceback" not in err
    assert _wait(lambda: not _postmasters(pgdata)), "a server process outlived db serve"
    assert not (pgdata / "postmaster.pid").exists()  # a clean shutdown removes it


def test_db_serve_with_database_url_prints_it_masked_and_exits(db_url):
    url = db_url.replace("@", ":s3cret@", 1)  # the test server trusts every password
    proc = run_cli(["db", "serve"], url, timeout=60)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip()
    assert printed.startswith("postgresql://postgres:***@") and "s3cret" not in printed
    assert printed.endswith("/" + sa.engine.make_url(db_url).database)


def test_db_url_says_the_embedded_url_needs_a_holder(data_dir):
    proc = run_cli(["db", "url"], None, data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr
    assert "host=" in proc.stdout and "convdiv db serve" in proc.stderr

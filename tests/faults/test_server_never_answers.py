"""Fault: the URL points at a port that accepts connections and never answers (a redis, a hung host); an error in
a URL the user gave with `--database-url`.

Before, the first case printed nothing for 133 s; now libpq's connect_timeout (10 s unless the URL or
PGCONNECT_TIMEOUT says otherwise) ends it with one line naming the host and the option to raise. Errors about the
URL name where the user put it: `--database-url` or DATABASE_URL. (The subprocess timeout is a guard against a hang,
not a timing assertion.)
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from convdiv.testing.cli import CONVDIV, one_error_line
from convdiv.testing.databases import libpq


@pytest.fixture
def silent_port():
    """A local port that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _run(args, env, tmp_path, timeout=90):
    import subprocess

    full = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PGCONNECT_TIMEOUT"}}
    full.update({"CONVDIV_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run([CONVDIV, *args], env=full, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("query, seconds", [("?connect_timeout=2", "2"), ("", "10")], ids=["from the URL", "default"])
def test_a_server_that_never_answers_is_one_line(silent_port, tmp_path, query, seconds):
    url = f"postgresql://someone@127.0.0.1:{silent_port}/warehouse{query}"
    line = one_error_line(_run(["db", "status"], {"DATABASE_URL": url}, tmp_path))
    assert f"127.0.0.1:{silent_port}" in line and f"did not answer within {seconds} s" in line, line
    assert "connect_timeout" in line and "DATABASE_URL" in line, line


def test_errors_name_the_option_the_user_used(db_url, tmp_path):
    missing = libpq(db_url).rsplit("/", 1)[0] + "/no_such_database_w24"
    from_env = one_error_line(_run(["db", "status"], {"DATABASE_URL": missing}, tmp_path))
    assert "in DATABASE_URL" in from_env and "--database-url" not in from_env, from_env
    from_option = one_error_line(_run(["--database-url", missing, "db", "status"], {}, tmp_path))
    assert "in --database-url" in from_option and "DATABASE_URL" not in from_option, from_option
    bad = one_error_line(_run(["--database-url", "mysql://x@h/db", "db", "status"], {}, tmp_path))
    assert bad.startswith("convdiv: error: --database-url must point at PostgreSQL"), bad

"""Fault: another session holds a lock on a table a command needs, and the server's lock_timeout expires.

convdiv shows one line naming the lock wait and the fix (let the other session finish or stop it); nothing
changed. The test sets lock_timeout on the test database, so it does not depend on convdiv's own default.
"""

from __future__ import annotations

import psycopg
import pytest

from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq


@pytest.mark.parametrize("command", [("corpus", "list"), ("corpus", "remove", "tiny"), ("report", "--out", "r.html")])
def test_lock_held_by_another_session(db_url, tmp_path, command):
    database = libpq(db_url).rsplit("/", 1)[1]
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{database}\" SET lock_timeout = '300ms'")
    with psycopg.connect(libpq(db_url)) as holder:
        holder.execute("LOCK TABLE corpus IN ACCESS EXCLUSIVE MODE")
        holder_pid = holder.info.backend_pid
        proc = convdiv(
            *command,
            database_url=db_url,
            data_dir=tmp_path / "data",
            env={"PWD": str(tmp_path), "CONVDIV_LOCK_TIMEOUT": "0.3"},
        )
        holder.rollback()
    line = one_error_line(proc)
    # commands that write bound their own waits (CONVDIV_LOCK_TIMEOUT) and name the holder; readers get the
    # server's lock_timeout and the general message
    assert ("waiting for a lock" in line and "another" in line) or (
        f"pid {holder_pid}" in line and "CONVDIV_LOCK_TIMEOUT" in line
    ), line

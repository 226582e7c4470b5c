"""What the fault tests share: running the real `convdiv` command and reading its one error line, and login roles
created on the test server (roles are cluster-wide: every test drops the ones it made)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

CONVDIV = str(Path(sys.executable).with_name("convdiv"))


def libpq(db_url: str, user: str | None = None) -> str:
    """libpq URL of a test database, optionally as another user (the test server trusts local logins)."""
    url = make_url(db_url).set(drivername="postgresql")
    if user is not None:
        url = url.set(username=user)
    return url.render_as_string(hide_password=False)


def convdiv(*args: str, database_url: str, data_dir: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DATABASE_URL": database_url, "CONVDIV_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run([CONVDIV, *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr (asserting there is exactly one and no traceback)."""
    assert proc.returncode != 0, f"expected a failure, got exit 0: {proc.stdout}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("convdiv: error:"), lines[0]
    return lines[0]


@contextmanager
def login_role(db_url: str, prefix: str, attributes: str = ""):
    """A new LOGIN role (``attributes`` as in CREATE ROLE), dropped with whatever was granted to it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN {attributes}')
    try:
        yield name
    finally:
        drop_roles(db_url, name)


def drop_roles(db_url: str, *names: str) -> None:
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        for name in names:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                conn.execute(f'DROP OWNED BY "{name}"')
                conn.execute(f'DROP ROLE "{name}"')

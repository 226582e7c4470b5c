"""What the benches share: scratch databases on a given server, its URLs, and a timed read."""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import sqlalchemy as sa

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def default_server(variable: str = "DATABASE_URL") -> str:
    """The server a bench builds its databases on when --server is not given: ``variable`` from the environment,
    else the machine's PostgreSQL on 127.0.0.1:5432 as user postgres."""
    return os.environ.get(variable, DEFAULT_SERVER)


def admin(server: str) -> str:
    """libpq URL of ``server`` (its maintenance database: where CREATE and DROP DATABASE run)."""
    return sa.engine.make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


def create_db(server: str, prefix: str = "convdiv_bench_views") -> str:
    """A new, empty database on ``server`` with a unique name; returns the name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_db(server: str, name: str) -> None:
    with psycopg.connect(admin(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def urls(server: str, name: str) -> tuple[sa.engine.URL, str]:
    """The database ``name`` on ``server``: its SQLAlchemy URL (psycopg driver) and its libpq conninfo."""
    url = sa.engine.make_url(server).set(drivername="postgresql+psycopg", database=name)
    return url, url.set(drivername="postgresql").render_as_string(hide_password=False)


def time_query(conninfo: str, sql: str, repeat: int = 2) -> tuple[float, int]:
    """Best of ``repeat`` seconds to read ``sql``'s rows fully into Python, and their number."""
    best, rows = float("inf"), 0
    with psycopg.connect(conninfo) as conn:
        for _ in range(repeat):
            t0 = time.perf_counter()
            rows = len(conn.execute(sql).fetchall())
            best = min(best, time.perf_counter() - t0)
            conn.rollback()
    return best, rows

"""Shared fixtures: real PostgreSQL databases, never mocks.

The server is ``CONVDIV_TEST_SERVER`` or ``DATABASE_URL`` if set, else the machine's PostgreSQL on
127.0.0.1:5432 (user postgres); the embedded server has its own tests (test_embedded.py).
Each test that asks for ``db_url`` gets a freshly created database, migrated to head, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from convdiv.config import Settings
from convdiv.warehouse import schema

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
# CI exports DATABASE_URL (the machine's service); tests create their own databases on that server.
SERVER_URL = (
    os.environ.get("CONVDIV_TEST_SERVER")
    or os.environ.get("DATABASE_URL")
    or "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin_conninfo() -> str:
    return make_url(SERVER_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(prefix: str = "convdiv_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(SERVER_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


def drop_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url() -> str:
    """A new, empty database (no schema)."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def db_url(empty_db_url: str) -> str:
    """A new database migrated to head."""
    engine = sa.create_engine(empty_db_url)
    schema.upgrade(engine)
    engine.dispose()
    return empty_db_url


@pytest.fixture
def engine(db_url: str):
    eng = sa.create_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at a fresh migrated database and a private data dir."""
    return Settings.from_env(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"shared data folder missing: {SHARED_DATA}")
    return SHARED_DATA

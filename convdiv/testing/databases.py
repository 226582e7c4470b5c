"""Scratch databases on a real PostgreSQL server: created with unique names, dropped afterwards.

Running the whole Alembic upgrade for every test database costs seconds each; instead a test session migrates one
*template* database once and every test database is a ``CREATE DATABASE ... TEMPLATE`` copy of it (a file-level
copy, a fraction of the upgrade's time). PostgreSQL copies only what lives inside the database, so the migrations
must keep to that (no ``ALTER DATABASE ... SET``); roles are cluster-wide and not part of the copy either way.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from convdiv.warehouse import queries, schema

Q = queries.beside(__file__)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _ddl(query: str, **identifiers: str | None) -> sql.Composed:
    """The named DDL with its {fields} as quoted identifiers."""
    return sql.SQL(Q[query]).format(**{k: sql.Identifier(v) for k, v in identifiers.items() if v is not None})


def server_url() -> str:
    """The server tests create their databases on: ``CONVDIV_TEST_SERVER``, else ``DATABASE_URL`` (what CI
    exports), else the machine's PostgreSQL on 127.0.0.1:5432 as user postgres."""
    return os.environ.get("CONVDIV_TEST_SERVER") or os.environ.get("DATABASE_URL") or DEFAULT_SERVER


def _admin_conninfo() -> str:
    return make_url(server_url()).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(prefix: str = "convdiv_test", template: str | None = None) -> str:
    """Create a uniquely named database (empty, or a copy of the database named `template`) on the test server and
    return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    query = "create_database_from_template" if template else "create_database"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(_ddl(query, name=name, template=template))
    return (
        make_url(server_url()).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    )


def drop_database(url: str) -> None:
    """Drop the test server's database named in `url`, disconnecting whoever is still on it."""
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(_ddl("drop_database", name=make_url(url).database))


def create_migrated_template(prefix: str = "convdiv_template") -> str:
    """A new database migrated to head, with no connection left open on it, ready to be a TEMPLATE; returns its
    URL."""
    url = create_database(prefix)
    # No pool: CREATE DATABASE ... TEMPLATE refuses while any session is still connected to the template.
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        schema.upgrade(engine)
    except BaseException:
        drop_database(url)
        raise
    finally:
        engine.dispose()
    return url


def create_migrated_database(template_url: str, prefix: str = "convdiv_test") -> str:
    """A new database at head, copied from a template made by :func:`create_migrated_template`."""
    return create_database(prefix, template=make_url(template_url).database)


def libpq(db_url: str, user: str | None = None) -> str:
    """libpq URL of a test database, optionally as another user (the test server trusts local logins)."""
    url = make_url(db_url).set(drivername="postgresql")
    if user is not None:
        url = url.set(username=user)
    return url.render_as_string(hide_password=False)


@contextmanager
def login_role(db_url: str, prefix: str, attributes: str = ""):
    """A new LOGIN role (``attributes`` as in CREATE ROLE), dropped with whatever was granted to it. Roles are
    cluster-wide: every test drops the ones it made."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute(sql.SQL(Q["create_login_role"]).format(name=sql.Identifier(name), attributes=sql.SQL(attributes)))
    try:
        yield name
    finally:
        drop_roles(db_url, name)


def drop_roles(db_url: str, *names: str) -> None:
    """Drop each named role that exists, with everything it owns or was granted in the database of `db_url`."""
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        for name in names:
            if conn.execute(Q["role_exists"], {"name": name}).fetchone():
                conn.execute(_ddl("drop_owned", name=name))
                conn.execute(_ddl("drop_role", name=name))

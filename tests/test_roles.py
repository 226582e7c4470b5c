"""The analyst role: reads every table and view, writes nothing (checked by SET ROLE on a real connection)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from convdiv.cli import cli
from convdiv.errors import ConvdivError
from convdiv.warehouse import aggregates
from convdiv.warehouse.roles import grant_analyst


@pytest.fixture
def role(engine):
    name = f"analyst_{uuid.uuid4().hex[:10]}"
    yield name
    with engine.begin() as conn:
        if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first():
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')


def _as_role(db_url: str, role: str, sql: str):
    """Run one statement as ``role`` (SET ROLE on a fresh connection); returns rows or raises psycopg errors."""
    conninfo = sa.engine.make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn:
        conn.execute(f'SET ROLE "{role}"')
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else None


def _relations(engine) -> list[str]:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1"  # p: the fact tables
                )
            )
            .scalars()
            .all()
        )


def test_analyst_reads_every_table_and_view(engine, db_url, role):
    aggregates.rebuild(engine)
    result = grant_analyst(engine, role)
    assert result.created and not result.login and result.warnings == []
    relations = _relations(engine)
    assert {"suite", "pair_token", "token_records", "expected_kl", "comparison_stats", "phase_boundaries"} <= set(
        relations
    )
    for name in relations:
        assert _as_role(db_url, role, f"SELECT count(*) FROM {name}") is not None


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('x', 'local', 't', '{}')",
        "UPDATE suite SET name = 'y'",
        "DELETE FROM position",
        "TRUNCATE checkpoint_token",
        "CREATE TABLE scratch (x int)",
        "CREATE VIEW scratch_view AS SELECT 1 AS x",
        "CREATE SCHEMA scratch",
        "REFRESH MATERIALIZED VIEW comparison_stats",
        "DROP VIEW expected_kl",
    ],
)
def test_analyst_cannot_write(engine, db_url, role, statement):
    grant_analyst(engine, role)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_role(db_url, role, statement)


def test_existing_role_loses_write_grants_and_grant_is_idempotent(engine, db_url, role):
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
        conn.exec_driver_sql(f'GRANT INSERT, SELECT ON suite TO "{role}"')
    assert grant_analyst(engine, role).created is False
    assert grant_analyst(engine, role, login=True).login is True
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _as_role(db_url, role, "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('x', 'local', 't', '{}')")
    assert _as_role(db_url, role, "SELECT count(*) FROM suite") == [(0,)]


def test_views_created_later_are_readable(engine, db_url, role):
    grant_analyst(engine, role)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW later_view AS SELECT 1 AS x")
    assert _as_role(db_url, role, "SELECT x FROM later_view") == [(1,)]


def test_bad_role_names_and_superusers_are_refused(engine):
    with pytest.raises(ConvdivError, match="invalid role name"):
        grant_analyst(engine, "x; DROP TABLE suite")
    with pytest.raises(ConvdivError, match="superuser|connects as"):
        grant_analyst(engine, "postgres")


def test_cli_grant_analyst(settings, db_url, role):
    result = CliRunner().invoke(cli, ["--database-url", db_url, "db", "grant-analyst", role])
    assert result.exit_code == 0, result.output
    assert f"created read-only role {role}" in result.output
    assert _as_role(db_url, role, "SELECT count(*) FROM expected_kl") == [(0,)]


def test_login_role_cannot_write_by_privileges_alone(engine, db_url, role):
    """default_transaction_read_only is a convenience a session can switch off; the grants must hold without it."""
    assert grant_analyst(engine, role, login=True).created
    conninfo = (
        sa.engine.make_url(db_url).set(drivername="postgresql", username=role).render_as_string(hide_password=False)
    )
    with psycopg.connect(conninfo, options="-c default_transaction_read_only=off", autocommit=True) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)
        assert conn.execute("SELECT count(*) FROM suite").fetchone() == (0,)
        for statement in [
            "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('x', 'local', 't', '{}')",
            "UPDATE corpus SET name = 'y'",
            "DELETE FROM position",
            "TRUNCATE checkpoint_token",
            "CREATE TABLE scratch (x int)",
            "CREATE SCHEMA scratch",
            f'GRANT pg_write_all_data TO "{role}"',
            f'ALTER ROLE "{role}" CREATEROLE',
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

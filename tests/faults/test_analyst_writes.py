"""Fault: an analyst (a role made by `convdiv db grant-analyst --login`) runs commands that write.

Its sessions start read-only, so the first write fails with "read-only transaction"; with that convenience
switched off (PGOPTIONS), its privileges alone refuse the write. Either way: one line naming the role and the fix,
and the warehouse unchanged.
"""

from __future__ import annotations

import psycopg
import pytest

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import drop_roles, libpq, login_role
from convdiv.warehouse.roles import grant_analyst


@pytest.fixture
def analyst(engine, db_url):
    role = grant_analyst(engine, f"analyst_{engine.url.database[-12:]}", login=True).role
    yield role
    drop_roles(db_url, role)


@pytest.mark.parametrize("read_only_default", [True, False], ids=["read-only session", "privileges alone"])
def test_analyst_cannot_write_and_gets_one_line(engine, db_url, suite_root, tmp_path, analyst, read_only_default):
    S.add_tiny_corpus(engine, suite_root)
    before = S.snapshot(db_url)
    env = {} if read_only_default else {"PGOPTIONS": "-c default_transaction_read_only=off"}
    commands = [
        ("corpus", "remove", S.CORPUS),
        ("ingest", str(suite_root), "--corpus", S.CORPUS, "--sizes", "xs", "--steps", "0", "--no-progress"),
    ]
    for command in commands:
        line = one_error_line(
            convdiv(*command, database_url=libpq(db_url, analyst), data_dir=tmp_path / "data", env=env)
        )
        assert analyst in line, line
        if read_only_default:
            assert "read-only" in line and "loader role" in line, line
        else:
            assert "permission denied" in line and "owner" in line, line
    assert S.snapshot(db_url) == before
    with psycopg.connect(libpq(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM corpus").fetchone() == (1,)


# Every write path outside the warehouse's tables that PUBLIC holds by default (docs/operations.md lists them and
# how each is closed): each statement, run as the analyst with its read-only default switched off, is refused for
# lack of privilege, and leaves no large object behind.
SERVER_WRITES = {
    "lo_from_bytea": "SELECT lo_from_bytea(0, 'x')",
    "lo_create": "SELECT lo_create(0)",
    "lo_creat": "SELECT lo_creat(-1)",
    "lo_import": "SELECT lo_import('/etc/hostname')",
    "lo_put": "SELECT lo_put(1, 0, 'x')",
    "lo_unlink": "SELECT lo_unlink(1)",
    "pg_logical_emit_message": "SELECT pg_logical_emit_message(false, 'convdiv', 'x')",
    "temporary table": "CREATE TEMP TABLE scratch (x int)",
    "sequence": "SELECT nextval('ingest_unit_unit_id_seq')",
}


def test_analyst_has_no_write_path_outside_the_tables(engine, db_url, analyst):
    with psycopg.connect(libpq(db_url)) as conn:
        large_objects = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    refused = {}
    with psycopg.connect(libpq(db_url, analyst), options="-c default_transaction_read_only=off") as conn:
        conn.autocommit = True
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("5GB",)
        for what, statement in SERVER_WRITES.items():
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege as exc:
                refused[what] = str(exc).splitlines()[0]
    assert sorted(refused) == sorted(SERVER_WRITES), refused
    with psycopg.connect(libpq(db_url)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == large_objects


def test_a_loader_keeps_its_temporary_tables(engine, db_url, analyst):
    """TEMPORARY is revoked from PUBLIC, so the writers the warehouse has (INSERT on ingest_unit) get it by name:
    their publish stages in temporary tables."""
    with login_role(db_url, "loader") as loader:
        with psycopg.connect(libpq(db_url), autocommit=True) as conn:
            conn.execute(f'GRANT INSERT ON ingest_unit TO "{loader}"')
        grant_analyst(engine, analyst)  # again: the loader now exists
        with psycopg.connect(libpq(db_url, loader)) as conn:
            conn.execute("CREATE TEMP TABLE stage (x int)")

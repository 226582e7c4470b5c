"""Fault: `convdiv db grant-analyst` asked to make a role read-only that can still write by privileges alone.

Real roles on the test server (created and dropped here): a member (directly, through another role, or without
INHERIT) of a role that writes, a CREATEROLE role (it could grant itself pg_write_all_data), BYPASSRLS,
REPLICATION, a member of pg_write_all_data, an owner of a warehouse object, column-level write grants, and a
table PUBLIC can write. Each is refused in one line naming the path and the statement that removes it, and
nothing is granted (tests/test_roles.py shows that a role the command accepts cannot write, even with
default_transaction_read_only switched off).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from convdiv.errors import ConvdivError
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import drop_roles, libpq
from convdiv.warehouse.roles import grant_analyst

# setup SQL ({a}: the analyst candidate, {m}: a middle role, {w}: a role that writes) -> what the refusal names
CASES = {
    "member of a writer": (
        "GRANT INSERT, DELETE ON position, suite TO {w}; GRANT {w} TO {a}",
        ["member role {w} can", "REVOKE {w} FROM {a}"],
    ),
    "inherited membership": (
        "GRANT DELETE ON position TO {w}; GRANT {w} TO {m}; GRANT {m} TO {a}",
        ["member role {w} (via {m}) can DELETE", "REVOKE {m} FROM {a}"],
    ),
    "noinherit membership": (
        "ALTER ROLE {a} NOINHERIT; GRANT UPDATE ON suite TO {w}; GRANT {w} TO {a}",
        ["{w}", "REVOKE {w} FROM {a}"],
    ),
    "createrole": ("ALTER ROLE {a} CREATEROLE", ["has CREATEROLE", "NOCREATEROLE"]),
    "bypassrls": ("ALTER ROLE {a} BYPASSRLS", ["has BYPASSRLS", "NOBYPASSRLS"]),
    "replication": ("ALTER ROLE {a} REPLICATION", ["has REPLICATION", "NOREPLICATION"]),
    "pg_write_all_data": ("GRANT pg_write_all_data TO {a}", ["pg_write_all_data", "REVOKE pg_write_all_data FROM"]),
    "writer's createrole": ("ALTER ROLE {w} CREATEROLE; GRANT {w} TO {a}", ["has CREATEROLE", "REVOKE {w} FROM {a}"]),
    "member of an owner": (
        "CREATE TABLE scratch_{w} (x int); ALTER TABLE scratch_{w} OWNER TO {w}; GRANT {w} TO {m}; GRANT {m} TO {a}",
        ["member role {w} (via {m})", "REVOKE {m} FROM {a}"],
    ),
    "owner of an object": ("CREATE TABLE scratch_{a} (x int); ALTER TABLE scratch_{a} OWNER TO {a}", ["owns"]),
    "column grant": ("GRANT UPDATE (name) ON suite TO {w}; GRANT {w} TO {a}", ["can UPDATE suite"]),
    "public can write": (
        "GRANT INSERT ON corpus TO PUBLIC",
        ["PUBLIC can INSERT corpus", "REVOKE INSERT ON corpus FROM PUBLIC"],
    ),
}


@pytest.fixture
def roles(db_url):
    tag = uuid.uuid4().hex[:8]
    names = {"a": f"fa_{tag}", "m": f"fm_{tag}", "w": f"fw_{tag}"}
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        for name in names.values():
            conn.execute(f"CREATE ROLE {name} LOGIN")
    yield names
    drop_roles(db_url, *names.values())


def _privileges(db_url, role):
    with psycopg.connect(libpq(db_url)) as conn:
        return conn.execute(
            "SELECT has_table_privilege(%s, 'suite', 'SELECT'), has_database_privilege(%s, "
            "current_database(), 'CONNECT') AND EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN "
            "pg_roles r ON r.oid = s.setrole WHERE r.rolname = %s)",
            (role, role, role),
        ).fetchone()


@pytest.mark.parametrize("case", list(CASES))
def test_role_that_can_write_is_refused(engine, db_url, roles, tmp_path, case):
    setup, expected = CASES[case]
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        for statement in setup.format(**roles).split(";"):
            conn.execute(statement)
    with pytest.raises(ConvdivError) as info:
        grant_analyst(engine, roles["a"])
    message = str(info.value)
    assert "\n" not in message and "cannot be made read-only" in message, message
    for text in expected:
        assert text.format(**roles) in message, message
    assert _privileges(db_url, roles["a"]) == (False, False)  # rolled back: no SELECT grant, no settings

    line = one_error_line(convdiv("db", "grant-analyst", roles["a"], database_url=db_url, data_dir=tmp_path))
    assert roles["a"] in line and "fix:" in line, line

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
from convdiv.testing.databases import drop_roles, libpq
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

"""Fault: the schema was changed by hand (a table renamed) while its recorded revision stays at head.

The revision check passes, so the failure comes from the first query that needs the table: one line that names
the missing relation and the fix, not a traceback.
"""

from __future__ import annotations

import psycopg
import pytest

from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq


@pytest.mark.parametrize("command", [("corpus", "list"), ("corpus", "remove", "tiny")])
def test_table_missing_at_head_revision(db_url, tmp_path, command):
    with psycopg.connect(libpq(db_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE corpus RENAME TO corpus_renamed_by_hand")
    line = one_error_line(convdiv(*command, database_url=db_url, data_dir=tmp_path / "data"))
    assert '"corpus" does not exist' in line and "convdiv db upgrade" in line, line

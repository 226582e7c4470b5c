"""Fault: a login role without any privilege on the warehouse runs every kind of command.

Each command fails with one line that names the role and the fix (`convdiv db grant-analyst` for reading, the
owner/loader role for writing), exit status 1, no traceback.
"""

from __future__ import annotations

import pytest

from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq, login_role

COMMANDS = [
    ("db", "status"),
    ("corpus", "list"),
    ("corpus", "remove", "tiny"),
    ("corpus", "add", "tiny", "--tokenizer", "gpt2", "--text", "{text}"),
    ("ingest", "demo", "--corpus", "tiny", "--no-progress"),
    ("report", "--out", "{out}"),
    ("db", "upgrade"),
    ("db", "grant-analyst", "someone"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_role_without_privileges_gets_one_line(db_url, tmp_path, command):
    text = tmp_path / "doc.txt"
    text.write_text("A short document.\n", encoding="utf-8")
    args = [a.format(text=text, out=tmp_path / "report.html") for a in command]
    with login_role(db_url, "nopriv") as role:
        proc = convdiv(*args, database_url=libpq(db_url, role), data_dir=tmp_path / "data")
    line = one_error_line(proc)
    assert proc.returncode == 1
    assert role in line and "permission denied" in line, line
    assert "grant-analyst" in line or "owner" in line, line

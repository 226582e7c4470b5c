"""The command line: every command has --help text and is documented; errors are one line and exit != 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from convdiv.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)


ALL_COMMANDS = list(_commands(cli))


@pytest.mark.parametrize("path", [p for p, _ in ALL_COMMANDS], ids=lambda p: " ".join(p))
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    cmd = dict(ALL_COMMANDS)[path]
    assert (cmd.help or "").strip(), f"`convdiv {' '.join(path)}` has no help text"


def test_every_command_is_documented():
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    leaves = [p for p, c in ALL_COMMANDS if not isinstance(c, click.Group)]
    missing = [" ".join(p) for p in leaves if not re.search(rf"convdiv {re.escape(' '.join(p))}\b", docs)]
    assert not missing, f"commands not documented in README.md or docs/: {missing}"


def _convdiv(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "convdiv", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_unreachable_database_is_one_line_naming_host_with_password_masked():
    result = _convdiv("db", "status", env={"DATABASE_URL": "postgresql://alice:s3cret@127.0.0.1:1/warehouse"})
    assert result.returncode != 0
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "127.0.0.1:1" in err
    assert "s3cret" not in err and "s3cret" not in result.stdout


def test_db_url_masks_password():
    result = _convdiv("db", "url", env={"DATABASE_URL": "postgresql://alice:s3cret@db.example:5433/w"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgresql+psycopg://alice:***@db.example:5433/w"


def test_non_postgres_url_is_refused():
    result = _convdiv("db", "status", env={"DATABASE_URL": "sqlite:///tmp/x.db"})
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_stale_schema_is_refused_with_the_fix(empty_db_url):
    """Every non-db command checks the schema first; on an empty database it names `convdiv db upgrade`."""
    stage_commands = [p for p, c in ALL_COMMANDS if p[0] != "db" and not isinstance(c, click.Group)]
    assert stage_commands, "no stage commands registered"
    # `corpus list` when present (cheap); else the first stage command that needs no arguments
    candidates = [p for p in stage_commands if p == ("corpus", "list")] or stage_commands
    result = _convdiv(*candidates[0], env={"DATABASE_URL": empty_db_url})
    assert result.returncode != 0
    assert "convdiv db upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_db_status_reports_revision_and_counts(db_url):
    result = _convdiv("db", "status", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout and "checkpoint_token" in result.stdout

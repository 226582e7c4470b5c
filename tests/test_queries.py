"""The one named-query loader (convdiv.warehouse.queries): file-per-query and `-- name:` sections, one placeholder
style, and every query of the package parses on the server."""

from __future__ import annotations

import pathlib
import re

import pytest

from convdiv.errors import ConvdivError
from convdiv.warehouse import queries

PACKAGE = pathlib.Path(queries.__file__).resolve().parents[1]


def test_files_and_sections(tmp_path):
    (tmp_path / "one.sql").write_text("-- header\nSELECT 1;\n")
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "two.sql").write_text("SELECT 2\n")
    (tmp_path / "many.sql").write_text(
        "-- file header\n\n-- name: a\n-- a's comment\nSELECT %(x)s;\n\n-- next header\n-- name: b\nSELECT 3;\n"
    )
    q = queries.Queries(tmp_path)
    assert q.names() == ["a", "b", "one", "rows/two"]
    assert q["one"] == "-- header\nSELECT 1"
    assert q["rows/two"] == "SELECT 2"
    assert q["a"] == "-- a's comment\nSELECT %(x)s"  # the next section's header stays with it
    assert q["b"] == "SELECT 3"
    with pytest.raises(ConvdivError, match="no SQL query 'c'"):
        q["c"]


def test_a_name_defined_twice_is_refused(tmp_path):
    (tmp_path / "a.sql").write_text("SELECT 1")
    (tmp_path / "more.sql").write_text("-- name: a\nSELECT 2\n")
    with pytest.raises(ConvdivError, match="defined twice"):
        queries.Queries(tmp_path).names()


def _query_folders():
    return sorted(
        {
            p.parent if p.parent.name == "sql" else p.parent.parent
            for p in PACKAGE.rglob("sql/**/*.sql")
            if "analytics" not in p.parts
        }
    )


def test_one_placeholder_style_everywhere():
    """psycopg's %(name)s only: no SQLAlchemy-style :name placeholder outside comments and casts."""
    folders = _query_folders()
    assert len(folders) >= 4
    for folder in folders:
        q = queries.Queries(folder)
        for name in q.names():
            code = "\n".join(line.split("--", 1)[0] for line in q[name].splitlines())
            code = re.sub(r"'[^']*'", "''", code)
            assert not re.search(r"(?<![:\w]):[a-z_]+\b(?!:)", code), f"{folder}/{name}: a :name placeholder"


PREPARABLE = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES"}


def test_every_query_parses_on_the_server(engine):
    """PREPARE each query with its placeholders typed unknown: syntax and relation names are checked by PostgreSQL."""
    import psycopg

    from convdiv.warehouse.engine import libpq_conninfo

    count = 0
    with psycopg.connect(libpq_conninfo(engine.url)) as conn:
        for folder in _query_folders():
            q = queries.Queries(folder)
            for name in q.names():
                code = "\n".join(line for line in q[name].splitlines() if not line.lstrip().startswith("--"))
                if code.split(None, 1)[0].upper() not in PREPARABLE:
                    continue  # DDL, COPY, ANALYZE: checked where they run
                if re.search(r"\{\w+\}", code):
                    continue  # a psycopg.sql template (names composed in): checked where it runs
                names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", q[name])))
                text = re.sub(r"%\((\w+)\)s", lambda m, ns=names: f"${ns.index(m.group(1)) + 1}", q[name]).replace(
                    "%%", "%"
                )
                try:
                    conn.execute(f"PREPARE convdiv_q AS {text}", prepare=False)
                    conn.execute("DEALLOCATE convdiv_q")
                except psycopg.Error as exc:
                    pytest.fail(f"{folder.relative_to(PACKAGE)}/{name}: {str(exc).splitlines()[0]}")
                count += 1
                conn.rollback()
    assert count > 40

"""The one loader of named SQL queries: every stage keeps its SQL in ``.sql`` files beside its code.

A folder of queries (``convdiv/<stage>/sql/``) holds either one query per file (``find_corpus.sql`` is the query
``find_corpus``; ``rows/checkpoint.sql`` is ``rows/checkpoint``) or several per file, each section starting with a
line ``-- name: <query>`` (the ingest ledger's ``ledger.sql``). Names are unique within a folder.

One placeholder style everywhere: psycopg's ``%(name)s``. The text runs as is on a psycopg cursor (COPY, session
locks) and through SQLAlchemy with ``connection.exec_driver_sql(text, params)`` or ``pandas.read_sql``; a literal
percent sign in a query is written ``%%``. The one exception is DDL, which PostgreSQL runs without parameters: its
identifiers and literals are ``{name}`` fields composed with ``psycopg.sql`` (``partitions.sql``). Comments are kept
(they are sent to the server with the query), except the trailing comment lines of a section, which belong to the
next one.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from convdiv.errors import ConvdivError

_SECTION = re.compile(r"^-- name: *(\S+) *$", re.M)


class Queries:
    """The named queries of one folder, read once on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __getitem__(self, name: str) -> str:
        try:
            return self._all()[name]
        except KeyError:
            raise ConvdivError(f"no SQL query {name!r} in {self.folder}") from None

    def names(self) -> list[str]:
        return sorted(self._all())

    def _all(self) -> dict[str, str]:
        return _read_folder(self.folder)


def beside(module_file: str) -> Queries:
    """The queries in the ``sql/`` folder next to a module: ``Q = queries.beside(__file__)``."""
    return Queries(Path(module_file).resolve().parent / "sql")


@cache
def _read_folder(folder: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        stem = path.relative_to(folder).with_suffix("").as_posix()
        parts = _SECTION.split(text)
        sections = [(stem, text)] if len(parts) == 1 else list(zip(parts[1::2], parts[2::2], strict=True))
        for name, body in sections:
            if name in out:
                raise ConvdivError(f"{path}: query {name!r} is defined twice in {folder}")
            out[name] = _clean(body)
    return out


def _clean(body: str) -> str:
    lines = body.strip().splitlines()
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
        lines.pop()  # the next section's header comments
    return "\n".join(lines).rstrip().rstrip(";")


# The warehouse's own queries (ingest ledger, catalog lookups, analyst write-path check): convdiv/warehouse/sql/.
WAREHOUSE = beside(__file__)

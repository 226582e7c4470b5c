"""The analysis views' SQL files: find them, read a given version, create and drop them.

Each database object of the analytics layer (view, materialised view, function) lives in one file
``sql/NNN_<name>.sql``; the number orders creation (an object only depends on lower numbers). Migrations treat every
object as *replaceable*: the migration that introduces or changes an object loads a pinned version of its file, so
upgrading an old warehouse and creating a fresh one give the same objects, and a downgrade can restore the previous
version.

Versions: ``sql/NNN_<name>.sql`` is the newest version. When a later migration changes an object, the version an
earlier migration loaded is first copied to ``sql/history/<name>@<revision>.sql``; ``read(name, as_of=revision)``
returns that copy when it exists, else the newest file. So migration 0002 keeps calling ``create(conn, name,
as_of="0002")`` forever, and a new migration 0003 that changes ``expected_kl`` calls ``replace(conn, "expected_kl",
as_of="0003")`` in its upgrade and ``replace(conn, "expected_kl", as_of="0002")`` in its downgrade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convdiv.errors import ConvdivError
from convdiv.warehouse.schema import SQL_DIR

HISTORY_DIR = SQL_DIR / "history"
_FILE_NAME = re.compile(r"^(\d+)_([a-z0-9_]+)\.sql$")
_CREATE = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(MATERIALIZED\s+VIEW|VIEW|FUNCTION)\s+([a-z0-9_]+)", re.IGNORECASE
)


@dataclass(frozen=True)
class SqlObject:
    """One object of the analytics layer as its newest file declares it."""

    order: int
    name: str
    kind: str  # 'view', 'materialized view' or 'function'
    path: Path

    @property
    def drop_statement(self) -> str:
        return f"DROP {self.kind.upper()} IF EXISTS {self.name}"


def _kind_of(text: str, path: Path) -> str:
    match = _CREATE.search(_strip_comments(text))
    if match is None:
        raise ConvdivError(f"{path}: no CREATE VIEW / MATERIALIZED VIEW / FUNCTION statement found")
    kind = " ".join(match.group(1).lower().split())
    named = _FILE_NAME.match(path.name)
    if named is None or match.group(2).lower() != named.group(2):
        raise ConvdivError(f"{path}: creates {match.group(2)}, but the file is named for another object")
    return kind


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def objects(sql_dir: Path = SQL_DIR) -> list[SqlObject]:
    """Every object of ``sql/``, in creation order (dependencies first)."""
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ConvdivError(f"{path}: SQL files are named NNN_<object>.sql")
        found.append(SqlObject(int(match.group(1)), match.group(2), _kind_of(path.read_text("utf-8"), path), path))
    found.sort(key=lambda o: (o.order, o.name))
    return found


def get(name: str, sql_dir: Path = SQL_DIR) -> SqlObject:
    for obj in objects(sql_dir):
        if obj.name == name:
            return obj
    raise ConvdivError(f"no SQL file for {name!r} in {sql_dir}")


def read(name: str, as_of: str | None = None, sql_dir: Path = SQL_DIR) -> str:
    """The SQL text of ``name`` as migration ``as_of`` loads it (the newest file when no older copy was kept)."""
    if as_of is not None:
        pinned = sql_dir / "history" / f"{name}@{as_of}.sql"
        if pinned.exists():
            return pinned.read_text("utf-8")
    return get(name, sql_dir).path.read_text("utf-8")


def execute_script(connection, sql: str) -> None:
    """Run a whole SQL file on a SQLAlchemy connection, in its transaction.

    Straight through the driver's cursor with no parameters: psycopg then sends the text as one simple query (several
    statements allowed) and does not read the '%' of comments as placeholders.
    """
    with connection.connection.cursor() as cursor:
        cursor.execute(sql)


def create(connection, name: str, as_of: str | None = None) -> None:
    """Run the file of ``name`` (its CREATE statement and any indexes) on a SQLAlchemy connection, then document
    the object from the file's header (``\\d+ expected_kl`` shows it)."""
    text = read(name, as_of)
    execute_script(connection, text)
    comment(connection, name, text)


@dataclass(frozen=True)
class Header:
    """What a file's header comment says: the object's description and one per documented column."""

    description: str
    columns: dict[str, str]


_ENTRY = re.compile(r"^--   (\S.*?)(?: {2,}(\S.*))?$")
_CONTINUED = re.compile(r"^-- {4,}(\S.*)$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def header(text: str) -> Header:
    """Parse the header convention of ``sql/``: a first line ``-- name: summary``, description lines, then
    ``-- Columns:`` (or ``-- Columns (as table x):``) with ``--   col[, col]   description`` entries whose
    description may continue on more-indented lines. Columns listed without a description get none."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.rstrip())
    described: list[str] = []
    columns: dict[str, str] = {}
    in_columns = False
    current: list[str] = []
    names: list[str] = []

    def flush() -> None:
        if names and current:
            for col in names:
                columns[col] = " ".join(current)

    for line in lines:
        if line.startswith("-- Columns"):
            in_columns = True
            continue
        if not in_columns:
            body = line[2:].strip()
            if body:
                described.append(body)
            continue
        continued = _CONTINUED.match(line)
        entry = _ENTRY.match(line)
        if continued and current:
            current.append(continued.group(1))
        elif entry:
            flush()
            candidates = [re.sub(r"\s*\([^)]*\)", "", n).strip() for n in entry.group(1).split(",")]
            names = [n for n in candidates if _IDENTIFIER.match(n)]
            if len(names) != len(candidates):  # a line of prose after the column list, not an entry
                names, current, in_columns = [], [], False
                described.append(line[2:].strip())
                continue
            current = [entry.group(2)] if entry.group(2) else []
        else:
            flush()
            names, current, in_columns = [], [], False
            if line[2:].strip():
                described.append(line[2:].strip())
    flush()
    if described:  # the first line names the object: "expected_kl: ..." / "compute_x(ids, corpus_id): ..."
        described[0] = re.sub(r"^[a-z0-9_]+(\([^)]*\))?: ", "", described[0])
    return Header(" ".join(described), columns)


def comment(connection, name: str, text: str | None = None) -> None:
    """COMMENT ON the view (or function) ``name`` and its columns from the header of its file (``text``: the
    version just created; default the newest file). Columns the header documents but the object lacks are skipped."""
    head = header(text if text is not None else read(name))
    kind = connection.exec_driver_sql(
        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind IN ('v', 'm')",
        (name,),
    ).scalar()
    if kind is None:
        for signature in connection.exec_driver_sql(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname = %s",
            (name,),
        ).scalars():
            execute_script(connection, f"COMMENT ON FUNCTION {signature} IS {_literal(head.description)}")
        return
    what = "VIEW" if kind == "v" else "MATERIALIZED VIEW"
    execute_script(connection, f"COMMENT ON {what} {name} IS {_literal(head.description)}")
    present = set(
        connection.exec_driver_sql(
            "SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (name,),
        ).scalars()
    )
    for column, description in head.columns.items():
        if column in present:
            execute_script(connection, f"COMMENT ON COLUMN {name}.{column} IS {_literal(description)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def drop(connection, name: str) -> None:
    """Drop ``name`` as whatever kind it is in the database (a migration may have changed its kind: a materialised
    view at 0002 is a table-backed view later); dependants must be dropped first (no CASCADE: a forgotten dependant
    should fail loudly). Nothing happens when it does not exist."""
    kind = connection.exec_driver_sql(
        "SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' END "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind IN ('v', 'm') "
        "UNION ALL SELECT 'FUNCTION' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname = %s",
        (name, name),
    ).scalar()
    if kind is not None:
        connection.exec_driver_sql(f"DROP {kind} IF EXISTS {name}")


def replace(connection, name: str, as_of: str | None = None) -> list[str]:
    """Re-create ``name`` from its ``as_of`` version, with every object after it that currently exists.

    A view's columns cannot change in place and a materialised view cannot be replaced at all, so dependants are
    dropped (newest first) and re-created from their files. Returns the names re-created, in order.
    """
    ordered = objects()
    start = next((i for i, o in enumerate(ordered) if o.name == name), None)
    if start is None:
        raise ConvdivError(f"no SQL file for {name!r} in {SQL_DIR}")
    tail = ordered[start:]
    existing = set(
        connection.exec_driver_sql(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('v', 'm') "
            "UNION SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema()"
        ).scalars()
    )
    later = [o for o in tail[1:] if o.name in existing]
    for obj in reversed(later):
        connection.exec_driver_sql(obj.drop_statement)
    connection.exec_driver_sql(tail[0].drop_statement)
    create(connection, name, as_of)
    for obj in later:
        create(connection, obj.name)
    return [name, *(o.name for o in later)]

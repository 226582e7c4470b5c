"""Schema drift: the live catalog compared with what convdiv expects (`convdiv db check`).

Three parts: tables, columns, types, constraints and indexes against the SQLAlchemy models (Alembic's autogenerate
comparison, the same check tests/test_migrations.py runs on a fresh database), the fact tables' partitioning (the
partition key the models declare, and one partition per corpus over its position-id range: partitions.drift; the
partitions themselves are not compared as tables of their own), and every view and function of the analytics layer
against its SQL file (each expected object is created in a scratch schema inside a transaction that is rolled back,
and the server's own rendering of both definitions is compared). A warehouse changed by hand is reported here,
before an ingest stumbles on it.
"""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy.engine import Connection, Engine

from convdiv.warehouse import partitions, queries, views
from convdiv.warehouse.engine import psycopg_connection
from convdiv.warehouse.models import Base

Q = queries.WAREHOUSE  # catalog.sql

SCRATCH = "convdiv_expected"


def drift(connection: Connection | Engine) -> list[str]:
    """One line per difference between the live schema and the expected one (empty: no drift)."""
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            return drift(conn)
    skipped = partitions.names(connection)

    def include_name(name, type_, parent_names) -> bool:
        return not (type_ == "table" and name in skipped)

    problems = [
        _describe(d)
        for d in compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name}),
            Base.metadata,
        )
    ]
    return problems + _partitioning_drift(connection) + _object_drift(connection)


def _partitioning_drift(connection: Connection) -> list[str]:
    """Each model table's partition key (``postgresql_partition_by``) against the live one, then the partitions."""
    live = partitions.keys(connection, Base.metadata.tables)
    problems = []
    for name, table in Base.metadata.tables.items():
        want = table.dialect_options["postgresql"].get("partition_by")
        have = live.get(name)
        if name in live and want != have:
            problems.append(
                f"table partitioning differs: {name} is {_partitioning(have)}, expected {_partitioning(want)}"
            )
    return problems + partitions.drift(connection)


def _partitioning(key: str | None) -> str:
    return f"PARTITION BY {key}" if key else "not partitioned"


def _describe(diff) -> str:
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in diff)
    kind, *rest = diff
    names = {
        "add_table": "table missing",
        "remove_table": "unexpected table",
        "add_column": "column missing",
        "remove_column": "unexpected column",
        "modify_type": "column type differs",
        "modify_nullable": "column nullability differs",
        "add_index": "index missing",
        "remove_index": "unexpected index",
        "add_constraint": "constraint missing",
        "remove_constraint": "unexpected constraint",
        "add_fk": "foreign key missing",
        "remove_fk": "unexpected foreign key",
        "modify_comment": "column comment differs",
        "modify_table_comment": "table comment differs",
        "modify_default": "column default differs",
    }
    what = names.get(kind, kind)
    detail = []
    for item in rest:
        name = getattr(item, "name", None)
        table = getattr(item, "table", None)
        if name is not None:
            detail.append(f"{table.name}.{name}" if table is not None and hasattr(table, "name") else str(name))
        elif isinstance(item, str):
            detail.append(item)
    return f"{what}: {' '.join(detail[:3])}".strip()


def _normalise(text: str | None) -> str:
    return " ".join(re.sub(rf"\b(public|{SCRATCH})\.", "", text or "").split())


def _object_drift(connection: Connection) -> list[str]:
    schema: str = connection.exec_driver_sql(Q["current_schema"]).scalar_one()
    problems: list[str] = []
    transaction = connection.begin_nested() if connection.in_transaction() else connection.begin()
    try:
        fields = {"scratch": sql.Identifier(SCRATCH), "schema": sql.Identifier(schema)}
        raw = psycopg_connection(connection)
        for ddl in ("scratch_schema", "scratch_search_path"):
            connection.exec_driver_sql(sql.SQL(Q[ddl]).format(**fields).as_string(raw))
        expected = views.objects()
        for obj in expected:
            views.create(connection, obj.name)
        live: dict[tuple[str, str], str] = {}
        for name, kind, nsp in connection.exec_driver_sql(
            Q["live_analytics_objects"], {"schema": schema, "scratch": SCRATCH}
        ).fetchall():
            live[(nsp, name)] = kind
        for obj in expected:
            kind = live.get((schema, obj.name))
            if kind is None:
                problems.append(f"{obj.kind} missing: {obj.name} ({obj.file})")
                continue
            if kind != obj.kind:
                problems.append(f"{obj.name} is a {kind}, expected a {obj.kind} ({obj.file})")
                continue
            have, want = (
                _normalise(
                    connection.exec_driver_sql(
                        Q["object_definition"], {"kind": obj.kind, "schema": nsp, "name": obj.name}
                    ).scalar()
                )
                for nsp in (schema, SCRATCH)
            )
            if have != want:
                problems.append(f"{obj.kind} differs from {obj.file}: {obj.name}")
        names = {o.name for o in expected}
        for (nsp, name), kind in sorted(live.items()):
            if nsp == schema and name not in names:
                problems.append(f"unexpected {kind}: {name}")
    finally:
        transaction.rollback()
    return problems

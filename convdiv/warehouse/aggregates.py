"""The maintained aggregates: rebuild them after a bulk load, check them against the facts.

The ingest never calls this module: each unit's publish transaction maintains its own aggregate rows
(``maintain_aggregates`` in ``sql/upkeep/maintain_aggregates.sql``, called by :func:`convdiv.warehouse.ledger.publish_unit`).
What is here serves what bypasses the ingest (synthetic warehouses of tests and benches load facts with COPY and
then :func:`rebuild`) and ``convdiv db check`` (:func:`check`: recompute every aggregate in SQL and compare).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from sqlalchemy.engine import Connection, Engine

from convdiv.warehouse import queries
from convdiv.warehouse.engine import psycopg_connection

Q = queries.WAREHOUSE  # aggregates.sql


def rebuild(connection: Connection | Engine, corpus_id: int | None = None) -> None:
    """Recompute every aggregate of one corpus (None: all) from the facts, in the caller's transaction (a
    connection) or in one of its own (an engine). Cost: the corpus's facts."""
    if isinstance(connection, Engine):
        with connection.begin() as conn:
            return rebuild(conn, corpus_id)
    # A rebuild groups every fact row of the corpus: at the default 4 MB its sorts and hashes spill to disk.
    # bench/report.py's paper-scale synthetic warehouse (9.2M fact rows): the rebuild had not finished after 45 min
    # at the default (load 6-9); with 256 MB the whole build, COPY included, took 132 s (load 4).
    connection.exec_driver_sql(Q["rebuild_settings"], {"work_mem": REBUILD_WORK_MEM})
    connection.exec_driver_sql(Q["rebuild_aggregates"], {"corpus_id": corpus_id})
    # the planner must know the new sizes before the first analysis query
    raw = psycopg_connection(connection)
    for table in AGGREGATE_TABLES:
        connection.exec_driver_sql(sql.SQL(Q["analyze_aggregate"]).format(table=sql.Identifier(table)).as_string(raw))


# work_mem of the rebuild's transaction (one session: a maintenance command, not many analysts at once)
REBUILD_WORK_MEM = "256MB"

AGGREGATE_TABLES = (
    "comparison_group",
    "final_surprisal",
    "checkpoint_stats",
    "comparison_stats",
    "agg_comparison_moments",
    "agg_token_ce",
    "agg_position_kl",
    "agg_context_variance",
    "agg_token_kl",
    "agg_regression_cells",
    "agg_regression_moments",
    "agg_conditional_kl",
)


@dataclass(frozen=True)
class AggregateCheck:
    """One aggregate of one corpus compared with its recomputation (``check_aggregates`` in sql/)."""

    aggregate: str
    corpus_id: int
    stored: int
    expected: int
    missing: int
    extra: int
    differing: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.differing)


def check(connection: Connection | Engine, corpus_id: int | None = None) -> list[AggregateCheck]:
    """Recompute every aggregate from its inputs (in SQL, read-only) and compare with what is stored."""
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            return check(conn, corpus_id)
    rows = connection.exec_driver_sql(Q["check_aggregates"], {"corpus_id": corpus_id}).fetchall()
    return [AggregateCheck(*row) for row in rows]

"""Refresh the materialised aggregates of the analytics layer after facts change.

The analysis views read a few materialised aggregates (``final_surprisal``, ``checkpoint_stats``,
``comparison_stats``, ``token_divergence``, ``context_variance``; see ``sql/``) so that no report query scans the
fact tables. They are only as current as their last refresh: the ingest calls :func:`refresh_aggregates` at its end.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Connection, Engine

from convdiv.analysis import sqlfiles

# Aggregates hash-join and group millions of fact rows; PostgreSQL's default 4 MB of work memory would make them
# sort and spill to disk. Scoped to the refresh transaction (SET LOCAL).
REFRESH_WORK_MEM = "256MB"


def refresh_aggregates(connection: Connection | Engine, *, analyze: bool = True) -> dict[str, float]:
    """REFRESH MATERIALIZED VIEW every aggregate that exists in the warehouse, dependencies first.

    ``connection``: a SQLAlchemy connection (the caller's transaction is used and not committed) or an engine (a
    transaction of its own is committed). Aggregates that an older schema lacks are skipped. With ``analyze``, each
    refreshed aggregate is ANALYZEd so the planner knows its new size. Returns seconds per aggregate.
    """
    if isinstance(connection, Engine):
        with connection.begin() as conn:
            return refresh_aggregates(conn, analyze=analyze)
    present = set(
        connection.exec_driver_sql(
            "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema()"
        ).scalars()
    )
    connection.exec_driver_sql(f"SET LOCAL work_mem = '{REFRESH_WORK_MEM}'")
    timings: dict[str, float] = {}
    for name in sqlfiles.materialized_views():
        if name not in present:
            continue
        start = time.perf_counter()
        connection.exec_driver_sql(f"REFRESH MATERIALIZED VIEW {name}")
        if analyze:
            connection.exec_driver_sql(f"ANALYZE {name}")
        timings[name] = time.perf_counter() - start
    return timings

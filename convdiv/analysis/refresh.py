"""Refresh the materialised aggregates of the analytics layer after facts change.

The analysis views read materialised aggregates (``final_surprisal``, ``checkpoint_stats``, ``comparison_stats``,
``conditional_kl``, ``ce_difference``, ``position_kl``, ``token_divergence``, ``context_variance``,
``regression_cells``, ``regression_moments``; the list is every ``CREATE MATERIALIZED VIEW`` file of ``sql/``, in
file order) so that no report query scans the fact tables. They are only as current as their last refresh: the
ingest calls :func:`refresh_aggregates` at its end.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Connection, Engine

from convdiv.analysis import sqlfiles

# Planner settings for the refresh, scoped to it (restored afterwards). Every aggregate reads whole fact tables and
# groups them: hash joins and hash aggregates are the right plan, but PostgreSQL cannot estimate the row counts of
# joins on several columns of grouped subqueries (token_divergence's CE join was estimated at 1 row and run as a
# merge join filtering 549M row pairs: 74 s at paper scale). The default 4 MB of work memory would also make the
# hash aggregates spill to disk.
REFRESH_SETTINGS = {"work_mem": "256MB", "enable_nestloop": "off", "enable_mergejoin": "off"}


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
    saved = {name: connection.exec_driver_sql(f"SHOW {name}").scalar() for name in REFRESH_SETTINGS}
    _set(connection, REFRESH_SETTINGS)
    timings: dict[str, float] = {}
    for name in sqlfiles.materialized_views():
        if name not in present:
            continue
        start = time.perf_counter()
        connection.exec_driver_sql(f"REFRESH MATERIALIZED VIEW {name}")
        if analyze:
            connection.exec_driver_sql(f"ANALYZE {name}")
        timings[name] = time.perf_counter() - start
    # (on an error the caller's transaction is aborted, and its rollback discards these local settings too)
    _set(connection, saved)
    return timings


def _set(connection: Connection, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        # set_config(..., is_local => true) = SET LOCAL: never outlives the caller's transaction
        connection.exec_driver_sql(f"SELECT set_config('{name}', '{value}', true)")

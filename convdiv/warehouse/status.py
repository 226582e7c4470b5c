"""`convdiv db status`: what is in the warehouse, read from the catalog (cheap: no full scans), and the ingest runs
that are running, stale (lease expired) or aborted.

Like an ingest, it first aborts the runs of dead workers (same host: process gone; anywhere: lease expired; see
``warehouse/ledger.py``), when the session may write; a read-only session shows them as stale instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine

from convdiv.warehouse import ledger, queries, schema
from convdiv.warehouse.engine import mask_url, psycopg_connection
from convdiv.warehouse.models import Base

Q = queries.WAREHOUSE  # status.sql (the ingest runs: the ledger's queries)


@dataclass
class Status:
    url: str
    server_version: str
    current: str | None
    head: str
    row_counts: dict[str, int] = field(default_factory=dict)
    run_counts: dict[str, int] = field(default_factory=dict)  # ingest runs per status
    runs: list[RunState] = field(default_factory=list)  # running (stale or not) and the latest aborted runs
    aborted_now: list[int] = field(default_factory=list)  # runs this call aborted
    drift: list[str] = field(default_factory=list)  # differences from the expected schema (as `db check` lists them)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def to_dict(self) -> dict:
        """The `db status --json` object."""
        return {
            "url": self.url,
            "server_version": self.server_version,
            "current": self.current,
            "head": self.head,
            "up_to_date": self.up_to_date,
            "schema_drift": list(self.drift),
            "row_counts": dict(self.row_counts),
            "ingest_runs": {
                "counts": dict(self.run_counts),
                "aborted_now": list(self.aborted_now),
                "runs": [r.to_dict() for r in self.runs],
            },
        }


@dataclass
class RunState:
    """One ingest run as `db status` shows it; ``state`` is its status, or 'stale' for a running run whose lease
    ended but that this session could not abort."""

    ingest_run_id: int
    host: str
    state: str
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    lease_until: datetime | None
    reason: str | None
    units_running: int

    def to_dict(self) -> dict:
        def iso(t):
            return t.isoformat() if t is not None else None

        return {
            "ingest_run_id": self.ingest_run_id,
            "host": self.host,
            "state": self.state,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "heartbeat_at": iso(self.heartbeat_at),
            "lease_until": iso(self.lease_until),
            "reason": self.reason,
            "units_running": self.units_running,
        }


ABORTED_SHOWN = 20  # the most recent aborted runs listed (counts cover all of them)


def _runs(engine: Engine) -> tuple[dict[str, int], list[RunState], list[int]]:
    info = ledger.conninfo(engine)
    with ledger.connect(info, autocommit=True) as conn:
        try:
            aborted = [r.ingest_run_id for r in ledger.reap_runs(conn)]
        except (
            psycopg.errors.InsufficientPrivilege,
            psycopg.errors.ReadOnlySqlTransaction,
            psycopg.errors.LockNotAvailable,
        ):
            aborted = []  # a reader's status: expired runs show as stale
        counts: dict[str, int] = dict(conn.execute(ledger.Q["run_status_counts"]).fetchall())
        rows = conn.execute(ledger.Q["runs_for_status"], {"aborted_limit": ABORTED_SHOWN}).fetchall()
    runs = [
        RunState(
            ingest_run_id=r[0],
            host=r[1],
            state="stale" if r[8] else r[2],
            started_at=r[3],
            finished_at=r[4],
            heartbeat_at=r[5],
            lease_until=r[6],
            reason=r[7],
            units_running=r[9],
        )
        for r in rows
    ]
    return counts, runs, aborted


def collect(engine: Engine) -> Status:
    st = schema.state(engine)
    with engine.connect() as conn:
        version = conn.exec_driver_sql(Q["server_version"]).scalar_one()
        existing = set(sa.inspect(conn).get_table_names())
        counts = {}
        for name in Base.metadata.tables:
            if name in existing:
                count = sql.SQL(Q["table_rows"]).format(table=sql.Identifier(name))
                counts[name] = conn.exec_driver_sql(count.as_string(psycopg_connection(conn))).scalar_one()
    status = Status(
        url=mask_url(engine.url), server_version=version, current=st.current, head=st.head, row_counts=counts
    )
    if status.up_to_date:  # at head the live schema must be the expected one, as `db check` compares it
        from convdiv.warehouse import catalog

        status.drift = catalog.drift(engine)
    if status.up_to_date and not status.drift:  # the lease columns exist from migration 0005 on
        status.run_counts, status.runs, status.aborted_now = _runs(engine)
    return status

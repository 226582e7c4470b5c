"""suite origin, ingest run leases

Why (issue 11, items 3 and 6):

- Two local suites in different folders with the same folder name were registered as ONE suite (``upsert_suite``
  updated ``source`` on conflict), so the second ingest overwrote the first suite's facts. ``suite.origin`` records
  where a suite comes from (``local:<resolved folder>`` or ``hub:<repository pattern>``); registering a name that is
  already used by another origin is refused (``convdiv ingest --name NEW`` stores it under another name). Existing
  suites get their origin from their stored spec (the same rule as ``convdiv.extract.plan.suite_origin``); suites
  written by hand (no spec root or repo) stay NULL and are never matched by an ingest.
- A worker killed on another machine (or hung) left its ``ingest_run`` 'running' forever. Runs now hold a lease:
  ``heartbeat_at`` / ``lease_until``, renewed by a heartbeat thread; a run whose lease expired (or, on the same
  host, whose process is gone) is marked ``aborted`` (``aborted_reason`` says why) and its units are given back.
  Runs still 'running' at this upgrade get a lease that ends now: they predate heartbeats, so the next ingest or
  ``db status`` decides about them like any other expired run. ``status`` gains a CHECK of its values.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

def upgrade() -> None:
    op.add_column("suite", sa.Column(
        "origin", sa.Text(), nullable=True,
        comment="Where the suite comes from: 'local:<resolved folder>' or 'hub:<repository pattern>'; one name, one "
                "origin (NULL: written by hand, never matched by an ingest)."))
    op.execute("""
        UPDATE suite SET origin = CASE
          WHEN source = 'local' AND spec ? 'root' THEN 'local:' || (spec->>'root')
          WHEN source = 'hub' AND spec ? 'repo' THEN 'hub:' || (spec->>'repo') || coalesce(
            (SELECT string_agg('; seed ' || key || ': ' || value, '' ORDER BY key::int)
               FROM jsonb_each_text(spec->'repo_overrides')), '')
        END
    """)
    op.add_column("ingest_run", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True,
                                          comment="Last heartbeat of the worker (every third of its lease)."))
    op.add_column("ingest_run", sa.Column(
        "lease_until", sa.DateTime(timezone=True), nullable=True,
        comment="A 'running' run whose lease ended is aborted and its units given back (CONVDIV_LEASE_SECONDS)."))
    op.add_column("ingest_run", sa.Column("aborted_reason", sa.Text(), nullable=True,
                                          comment="Why the run was aborted (lease expired, process gone)."))
    op.execute("UPDATE ingest_run SET lease_until = now() WHERE status = 'running'")
    op.alter_column("ingest_run", "status", comment="running, done, failed or aborted.")
    op.create_check_constraint(op.f("ck_ingest_run_status"), "ingest_run", "status IN ('running', 'done', 'failed', 'aborted')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_ingest_run_status"), "ingest_run", type_="check")
    # 0004 knows no 'aborted': those runs read as failed (they did not finish their work)
    op.execute("UPDATE ingest_run SET status = 'failed' WHERE status = 'aborted'")
    op.alter_column("ingest_run", "status", comment="running, done or failed.")
    op.drop_column("ingest_run", "aborted_reason")
    op.drop_column("ingest_run", "lease_until")
    op.drop_column("ingest_run", "heartbeat_at")
    op.drop_column("suite", "origin")

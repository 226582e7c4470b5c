"""compute_position_kl: the corpus as its position-id range, the groups' members read once

Why: issue 23 (a whole unit, aggregates included, >= 0.5x psql \\copy of its facts). PLACEHOLDER

No table changes, no index changes, no view changes; the same rows and values (tests/test_views.py's pandas oracle,
tests/test_live_warehouse.py's check_aggregates).

Upgrade: compute_position_kl replaced in place. Downgrade: compute_position_kl as 0015 loaded it
(sql/history/compute_position_kl@0015.sql).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 01:10:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    views.create(op.get_bind(), "compute_position_kl", as_of=revision)


def downgrade() -> None:
    views.create(op.get_bind(), "compute_position_kl", as_of="0015")

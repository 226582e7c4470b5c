"""relative_divergence without the per-pair sigma

Why: 0004 added sigma_per_pair / is_outlier_per_pair to relative_divergence through a subquery grouped over
comparison_stats; the planner runs it once per output row (it cannot estimate the view chain), and a read of one
family took 12 s at paper scale instead of 0.15 s (bench/report.py). The per-pair sigma now comes with the report's
bootstrap over seeds (convdiv/analysis/bootstrap.py, from the same per-comparison means), and the view is 0003's
again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    # Columns go away: drop and create (nothing depends on the view).
    sqlfiles.drop(connection, "relative_divergence")
    sqlfiles.create(connection, "relative_divergence", as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    sqlfiles.drop(connection, "relative_divergence")
    sqlfiles.create(connection, "relative_divergence", as_of="0004")  # the version 0004 loaded

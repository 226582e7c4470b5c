"""aggregate maintenance selects its rows as index conditions

Why: planner statistics lag behind a warehouse that grows fast (a fresh one is analysed empty by migration 0003),
and plans made for "empty" tables cost a demo unit's maintain_aggregates 47 s instead of about 1 s. The compute
functions now select their checkpoints, comparisons and groups as index conditions of the scans themselves
(`= ANY(ids)`, not a join the planner may turn into a full scan); the publish refreshes stale statistics before it
starts (convdiv/warehouse/ledger.py). Same results.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:45:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Functions only (CREATE OR REPLACE with the same signatures): nothing depends on them by catalog reference.
CHANGED = (
    "compute_final_surprisal", "compute_checkpoint_stats", "compute_comparison_stats", "compute_token_ce",
    "compute_position_kl", "compute_context_variance", "compute_token_kl", "compute_regression_cells",
    "compute_regression_moments", "compute_conditional_kl", "maintain_aggregates",
)


def upgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        sqlfiles.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        sqlfiles.create(connection, name, as_of="0003")

"""analysis views

Why: analysts answer the study's questions in SQL and the report reads the same views. This creates the analytics
layer of ``sql/`` (documented in docs/sql.md): helper functions, the flat record views, the materialised aggregates
(final_surprisal, checkpoint_stats, comparison_stats, conditional_kl, ce_difference, position_kl,
token_divergence, context_variance, regression_cells, regression_moments; refreshed by
convdiv.analysis.refresh.refresh_aggregates at the end of every ingest) and the analysis views on top of them.
Each object is loaded from its file pinned at this revision (convdiv/analysis/sqlfiles.py), so a later change to
a view is a new migration that loads the new version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# In creation order: every object depends only on those before it.
OBJECTS = (
    "convdiv_setting",
    "t_quantile_975",
    "position_features",
    "checkpoint_info",
    "comparison_info",
    "token_records",
    "pair_records",
    "regression_inputs",
    "final_surprisal",
    "checkpoint_stats",
    "comparison_stats",
    "expected_kl",
    "reference_kl",
    "conditional_kl",
    "relative_divergence",
    "ce_difference",
    "phase_boundaries",
    "position_kl",
    "token_divergence",
    "context_variance",
    "regression_cells",
    "regression_moments",
)


def upgrade() -> None:
    connection = op.get_bind()
    for name in OBJECTS:
        sqlfiles.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name in reversed(OBJECTS):
        sqlfiles.drop(connection, name)

"""phase_boundaries computed per suite

Why: the phase rule reads the E[KL] and reference curves several times, so its CTEs are materialised and a filter
on the view's suite could not reach them: any read computed every suite's curves (bench/scale.py: 0.05 s for the
report's two reads at x1, 0.13 s at x4, growing with the warehouse). The rule's query moves unchanged into
compute_phase_boundaries(suite_id), restricted to that suite's curves, and the view calls it per suite (suite
CROSS JOIN LATERAL): a read of one suite costs its curves. Same columns and rows.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 11:30:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# Every object of the analysis layer in creation order, as of this revision.
OBJECTS = (
    "convdiv_setting",
    "t_quantile_975",
    "position_features",
    "checkpoint_info",
    "comparison_info",
    "comparison_group_info",
    "comparison_group_member",
    "token_records",
    "pair_records",
    "regression_inputs",
    "compute_comparison_moments",
    "compute_final_surprisal",
    "compute_checkpoint_stats",
    "compute_comparison_stats",
    "compute_token_ce",
    "compute_position_kl",
    "compute_context_variance",
    "compute_token_kl",
    "compute_regression_cells",
    "compute_regression_moments",
    "compute_conditional_kl",
    "expected_kl",
    "reference_kl",
    "conditional_kl",
    "relative_divergence",
    "ce_difference",
    "compute_phase_boundaries",
    "phase_boundaries",
    "position_kl",
    "token_divergence",
    "context_variance",
    "regression_cells",
    "regression_moments",
    "maintain_aggregates",
    "rebuild_aggregates",
    "check_aggregates",
    "suite_summary",
    "corpus_summary",
    "checkpoint_coverage",
    "ingest_coverage",
    "ingest_provenance",
    "example_tokens",
    "comparison_kl",
    "comparison_moments",
)


def upgrade() -> None:
    connection = op.get_bind()
    views.create(connection, "compute_phase_boundaries", as_of=revision)
    views.drop(connection, "phase_boundaries")
    views.create(connection, "phase_boundaries", as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    views.drop(connection, "phase_boundaries")
    views.create(connection, "phase_boundaries", as_of="0004")
    views.drop(connection, "compute_phase_boundaries")

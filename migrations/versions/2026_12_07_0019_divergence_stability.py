"""divergence_stability: early divergence between seeds and late change within runs, per size and category

Why: issue 20 (the report says only what its data shows) found no analysis behind the presentation's slide
"earlier divergence in training correlates to greater stability later on". This view gives, per size and category
(every family: POS tags, frequency bins, ...), the geometric mean of the relative divergence sigma between seeds in
the divergence phase (from the convergence minimum, or the end of the uniform phase, to the divergence peak of
phase_boundaries) and of the relative consecutive-step KL from the divergence peak on; the report correlates the
two across categories with a leave-one-seed-out interval. It reads the existing views (phase_boundaries,
relative_divergence): no table changes, no other view changes.

Upgrade: the view. Downgrade: drop it.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0019"
down_revision = "0017"
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
    "compute_comparison_regression_sums",
    "comparison_regression_sums",
    "divergence_stability",
)


def upgrade() -> None:
    connection = op.get_bind()
    views.create(connection, "divergence_stability", as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    views.drop(connection, "divergence_stability")

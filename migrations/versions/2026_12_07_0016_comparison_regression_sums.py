"""comparison_regression_sums: the regression's X'y per comparison and tag, for the interval over seeds

Why: the report's regression intervals were OLS intervals over (comparison, position) rows taken as independent
(p-values down to 1e-283), but the rows of one position across pairs, of one pair across positions, and the pairs
that share a seed are dependent. The interval is now the leave-one-seed-out jackknife with Student's t over seeds
(convdiv.analysis.regression): each seed's comparisons are taken out of the normal equations and the coefficients
refitted. X'X needs no new data (every comparison of a size and step covers the same positions), X'y does: its
entries by POS(t), by POS(t-1) and in total, per comparison. comparison_moments has them only per POS pair (about
1.1M rows for a paper-scale suite, 20 s to read into the report); this view sums them per comparison and tag
(about 100 rows per comparison; 3 s at paper scale on 2 loaded cores), through compute_comparison_regression_sums
called per suite, so a read of one suite groups its own aggregate rows only. No table changes; no other view
changes.

Upgrade: the function, then the view. Downgrade: the view, then the function.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0016"
down_revision = "0015"
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
)


def upgrade() -> None:
    connection = op.get_bind()
    views.create(connection, "compute_comparison_regression_sums", as_of=revision)
    views.create(connection, "comparison_regression_sums", as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    views.drop(connection, "comparison_regression_sums")
    views.drop(connection, "compute_comparison_regression_sums")

"""views for what the report and analysts read besides the analyses; objects document themselves

Why: the report read base and ledger tables with its own queries (convdiv/report/sql/); it now reads views only,
and analysts get the same answers by name: suite_summary, corpus_summary, checkpoint_coverage, ingest_coverage,
ingest_provenance, example_tokens, comparison_kl, comparison_moments. Every view and function gets COMMENT ON
(VIEW / COLUMN / FUNCTION) from its file's header, so `\\d+ expected_kl` documents itself; objects created by later
migrations get theirs from convdiv.warehouse.views.create. No table changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:30:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0010"
down_revision = "0009"
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
NEW = (
    "suite_summary", "corpus_summary", "checkpoint_coverage", "ingest_coverage", "ingest_provenance",
    "example_tokens", "comparison_kl", "comparison_moments",
)


def upgrade() -> None:
    connection = op.get_bind()
    for name in NEW:
        views.create(connection, name, as_of=revision)
    for name in OBJECTS:
        views.comment(connection, name, views.read(name, as_of=revision))


def downgrade() -> None:
    connection = op.get_bind()
    for name in reversed(NEW):
        views.drop(connection, name)
    # the comments of the older objects stay: they describe the same objects

"""per-comparison regression moments maintained at publish: comparison_moments reads an aggregate

Why: comparison_moments (the report's bootstrap over seeds of the regression coefficients) grouped the suite's
pair_token rows at every read: about 5 s for one paper-scale suite (6.9M pair rows) and, with the report's planner
settings, a sequential scan of every suite's pair_token rows, so its cost grew with the warehouse. Its sums are
additive per comparison like the other aggregates', so they are now kept in agg_comparison_moments (per comparison,
corpus, POS(t) and POS(t-1); a surrogate key because tags may be NULL, as agg_regression_moments), computed from a
unit's facts in its publish transaction by maintain_aggregates (compute_comparison_moments), rebuilt and checked
with the others (rebuild_aggregates, check_aggregates / `convdiv db check`), deleted with its comparison or corpus
(ON DELETE CASCADE). The view keeps its name, columns and rows.

Upgrade: the table, the function, the three maintenance functions and the view; the table is backfilled from the
facts, one corpus at a time (cost: one pass over pair_token). Downgrade: the previous functions and view, then the
table and the function are dropped.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 11:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from convdiv.warehouse import views

revision = "0013"
down_revision = "0012"
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
# maintenance function -> the revision that loaded its previous version
FUNCTIONS = {"maintain_aggregates": "0009", "rebuild_aggregates": "0003", "check_aggregates": "0003"}


def upgrade() -> None:
    op.create_table(
        "agg_comparison_moments",
        sa.Column("row_id", sa.BigInteger(), sa.Identity(always=False), nullable=False, comment="Surrogate key."),
        sa.Column("comparison_id", sa.Integer(), nullable=False, comment="The comparison."),
        sa.Column("corpus_id", sa.SmallInteger(), nullable=False, comment="The corpus."),
        sa.Column("pos_t", sa.Text(), nullable=True, comment="POS(t) of the cell."),
        sa.Column("pos_prev", sa.Text(), nullable=True, comment="POS(t-1) of the cell."),
        sa.Column(
            "n",
            sa.BigInteger(),
            nullable=False,
            comment="Positions of the comparison in the cell with a log frequency.",
        ),
        sa.Column("sum_lf", sa.Double(), nullable=False, comment="Sum of ln(frequency)."),
        sa.Column("sum_lf2", sa.Double(), nullable=False, comment="Sum of ln(frequency)^2."),
        sa.Column("sum_kl", sa.Double(), nullable=False, comment="Sum of kl."),
        sa.Column("sum_kl2", sa.Double(), nullable=False, comment="Sum of kl^2."),
        sa.Column("sum_lf_kl", sa.Double(), nullable=False, comment="Sum of ln(frequency) * kl."),
        sa.ForeignKeyConstraint(
            ["comparison_id"],
            ["comparison.comparison_id"],
            name=op.f("fk_agg_comparison_moments_comparison_id_comparison"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["corpus_id"],
            ["corpus.corpus_id"],
            name=op.f("fk_agg_comparison_moments_corpus_id_corpus"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("row_id", name=op.f("pk_agg_comparison_moments")),
        comment="Per comparison, POS(t) and POS(t-1): sufficient statistics of the regression over the "
        "comparison's positions (read through the comparison_moments view; the report's bootstrap over seeds).",
    )
    connection = op.get_bind()
    views.create(connection, "compute_comparison_moments", as_of=revision)
    for name in FUNCTIONS:
        views.create(connection, name, as_of=revision)
    views.drop(connection, "comparison_moments")
    views.create(connection, "comparison_moments", as_of=revision)
    # backfill, then the index (built once over the rows)
    connection.exec_driver_sql(
        "INSERT INTO agg_comparison_moments (comparison_id, corpus_id, pos_t, pos_prev, n, sum_lf, sum_lf2, sum_kl, "
        "sum_kl2, sum_lf_kl) "
        "SELECT m.* FROM corpus AS co, LATERAL compute_comparison_moments("
        "ARRAY(SELECT c.comparison_id FROM comparison AS c ORDER BY 1), co.corpus_id) AS m"
    )
    op.create_index(
        "ix_agg_comparison_moments_comparison", "agg_comparison_moments", ["comparison_id", "corpus_id"], unique=False
    )
    connection.exec_driver_sql("ANALYZE agg_comparison_moments")


def downgrade() -> None:
    connection = op.get_bind()
    views.drop(connection, "comparison_moments")
    views.create(connection, "comparison_moments", as_of="0010")
    for name, previous in FUNCTIONS.items():
        views.create(connection, name, as_of=previous)
    views.drop(connection, "compute_comparison_moments")
    op.drop_index("ix_agg_comparison_moments_comparison", table_name="agg_comparison_moments")
    op.drop_table("agg_comparison_moments")

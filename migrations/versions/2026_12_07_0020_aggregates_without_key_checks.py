"""aggregate tables without per-row foreign keys (cascades by statement triggers); JIT off; pair_records' CE lookups

Why: a unit's publish writes about 50k aggregate rows (agg_comparison_moments, agg_position_kl, checkpoint_stats,
...), and each row's two foreign keys (to corpus and to its comparison, group, checkpoint or model) were checked by
a per-row trigger running a key-share lookup: measured on a paper-scale warehouse (bench/scale.py's unit, 2 loaded
cores at load 5), maintain_aggregates took 2.7 s with the keys and 1.1 s without (best of 3 alternating rounds each,
in one process). The aggregate
rows are written only by the aggregate functions (maintain_aggregates, rebuild_aggregates), from joins over the
dimension rows they point at, so the checks could never fail; `convdiv db check` (check_aggregates) reports any
aggregate row its recomputation lacks as extra. What the keys also did, deleting a removed corpus's, model's,
checkpoint's, comparison's or group's aggregate rows, is kept by statement-level AFTER DELETE triggers on those
five tables (one set-wise DELETE per aggregate table per statement, from the deleted rows' transition table).
The fact tables lost their keys the same way in migration 0003.

Also: the analysts' reads of the flat views (pair_records, token_records, regression_inputs) cross PostgreSQL's
JIT cost thresholds and JIT compiled for seconds where the query ran for less (issue 23: `SELECT * FROM
pair_records` on demo-quick 7.7 s, 4.2-4.8 s with JIT off); JIT is turned off for every session of the warehouse's
database (ALTER DATABASE ... SET jit = off; a session may still SET jit = on). bench/scale.py times the flat views
filtered as docs/sql.md shows with JIT on and off side by side. pair_records took each checkpoint's CE by LEFT JOIN
on checkpoint_token, which the planner turned into merge joins over every checkpoint_token row of the corpus even for
a read of one size and step; it now looks each CE up by primary key in a scalar subquery (the same rows and values;
a read that selects neither ce_a nor ce_b skips them): on a paper-scale warehouse under load 11, one size's seed
pairs at one step 4.8 -> 2.6 s, the learnability read of docs/sql.md 3.8 -> 1.6 s (side by side in one process).

And: compute_checkpoint_stats and compute_comparison_stats (the publish's two slowest statements) joined every
final_surprisal row of the corpus, every size of every suite, in a hash for their surprisal-bin family; the join now
also names the ids' sizes as an index condition (the same rows: the join already required the size). On the x4
bench warehouse, compute_comparison_stats for one unit's 15 comparisons: 0.73-0.97 s before, 0.50-0.81 s after
(4 alternating calls each, load 10-12).

Upgrade: the triggers' function (sql/000_cascade_aggregates.sql) and triggers, then the keys dropped, then the
database setting, then pair_records replaced (with every later object: views.replace), then the two functions
replaced in place. Downgrade: pair_records as 0003 loaded it (sql/history/pair_records@0003.sql), the functions as
0009 loaded them (sql/history/*@0009.sql), the setting reset, aggregate rows whose dimension row is gone
deleted (none unless a parent was deleted with the triggers disabled), the keys re-added (same names, ON DELETE
CASCADE), then the triggers and their function dropped.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# (aggregate table, column, parent table, parent column): every foreign key the aggregate tables had at 0016
KEYS = (
    ("final_surprisal", "model_id", "model", "model_id"),
    ("final_surprisal", "corpus_id", "corpus", "corpus_id"),
    ("checkpoint_stats", "checkpoint_id", "checkpoint", "checkpoint_id"),
    ("checkpoint_stats", "corpus_id", "corpus", "corpus_id"),
    ("comparison_stats", "comparison_id", "comparison", "comparison_id"),
    ("comparison_stats", "corpus_id", "corpus", "corpus_id"),
    ("agg_comparison_moments", "comparison_id", "comparison", "comparison_id"),
    ("agg_comparison_moments", "corpus_id", "corpus", "corpus_id"),
    ("agg_token_ce", "model_id", "model", "model_id"),
    ("agg_token_ce", "corpus_id", "corpus", "corpus_id"),
    ("agg_position_kl", "group_id", "comparison_group", "group_id"),
    ("agg_position_kl", "corpus_id", "corpus", "corpus_id"),
    ("agg_context_variance", "group_id", "comparison_group", "group_id"),
    ("agg_context_variance", "corpus_id", "corpus", "corpus_id"),
    ("agg_token_kl", "group_id", "comparison_group", "group_id"),
    ("agg_token_kl", "corpus_id", "corpus", "corpus_id"),
    ("agg_regression_cells", "group_id", "comparison_group", "group_id"),
    ("agg_regression_cells", "corpus_id", "corpus", "corpus_id"),
    ("agg_regression_moments", "group_id", "comparison_group", "group_id"),
    ("agg_regression_moments", "corpus_id", "corpus", "corpus_id"),
    ("agg_conditional_kl", "group_id", "comparison_group", "group_id"),
    ("agg_conditional_kl", "corpus_id", "corpus", "corpus_id"),
)
# Every object of the analysis layer in creation order, as of this revision.
OBJECTS = (
    "cascade_aggregates",
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
# the per-category statistics: their final_surprisal join is bound to the unit's sizes since 0020
STATS = ("compute_checkpoint_stats", "compute_comparison_stats")
PARENTS = ("corpus", "model", "checkpoint", "comparison", "comparison_group")


def _key_name(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_{parent}"


def upgrade() -> None:
    connection = op.get_bind()
    views.create(connection, "cascade_aggregates", as_of=revision)
    for parent in PARENTS:
        op.execute(
            f"CREATE TRIGGER cascade_aggregates AFTER DELETE ON {parent} REFERENCING OLD TABLE AS gone "
            "FOR EACH STATEMENT EXECUTE FUNCTION cascade_aggregates()"
        )
    for table, column, parent, _ in KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_key_name(table, column, parent)}")
    op.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET jit = off', current_database()); END $$")
    views.replace(connection, "pair_records", as_of=revision)
    for name in STATS:
        views.create(connection, name, as_of=revision)


def downgrade() -> None:
    views.replace(op.get_bind(), "pair_records", as_of="0003")  # re-creates every later object from its newest file
    for name in STATS:
        views.create(op.get_bind(), name, as_of="0009")
    op.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET jit', current_database()); END $$")
    for table, column, parent, parent_column in KEYS:
        op.execute(
            f"DELETE FROM {table} AS a WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} AS p WHERE p.{parent_column} = a.{column})"
        )
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {_key_name(table, column, parent)} FOREIGN KEY ({column}) "
            f"REFERENCES {parent} ({parent_column}) ON DELETE CASCADE"
        )
    for parent in PARENTS:
        op.execute(f"DROP TRIGGER cascade_aggregates ON {parent}")
    views.drop(op.get_bind(), "cascade_aggregates")

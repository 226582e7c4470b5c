"""compute_position_kl: the corpus as its position-id range, the groups' members read once

Why: issue 23 (a whole unit, aggregates included, >= 0.5x psql \\copy of its facts; 0.30x at 0020). In a unit's
publish, maintain_aggregates' largest statement after the per-category statistics was compute_position_kl: it joined
every pair_token row of the groups with position (one lookup per row, ~70k for a paper-shaped unit) only to keep the
corpus's rows, and planned comparison_group_member (a five-table view) twice: for the scan's ids and in the join.

The function now (sql/034_compute_position_kl.sql): the groups' members once, in a MATERIALIZED CTE (an index walk
from the groups; the scan takes their comparison ids as one index condition, and the join hashes their 15 rows for a
paper-shaped unit); the corpus as its position-id range (position_id BETWEEN the corpus's first and last id: every
corpus's positions are one contiguous range, the bounds of its fact partition, convdiv/warehouse/partitions.py), so
no position row is read per fact; grouped by (group, position). Every pair_token row lies in its position's corpus
partition, so the rows are the same: over every group of the x1 warehouse below (993,006 rows) 0015's and 0025's
bodies give the same keys and n_comparisons, bit-identical mean_kl, and m2_kl within 7.9e-16 relative (var_pop's
summation order; check_aggregates allows 1e-9).

Measured on the paper-scale x1 warehouse (bench/scale.py --keep: 2.40M checkpoint_token + 7.09M pair_token rows,
4,662 positions), copies of it upgraded to 0025, one with 0015's body loaded back, 2 shared cores:
- the function alone for one unit's 2 groups (9,324 rows; both bodies alternating in one session, 6 rounds, load
  3.9): 0015 0.195-0.238 s, 0025 0.113-0.135 s, median ratio 1.8x, the same rows with the same float values.
- its statement inside maintain_aggregates for bench/scale.py's probe unit (5 checkpoints, 15 comparisons; a fresh
  session each, auto_explain, 2 rounds alternating, load 4.0): 0015 0.239 s and 0.211 s, 0025 0.152 s and 0.144 s.
- maintain_aggregates for that unit (fresh session each, rolled back, 10 rounds alternating, load 3.9): median
  1.147 s (0015) vs 1.112 s (0025), median ratio 1.04x: the gain is ~0.07 s of ~1.1 s.
- bench/scale.py --publish-only --scales 1 --rounds 5, two runs per body alternating (load 4.0-4.2): the whole unit
  0.31x and 0.39x psql (0025), 0.30x and 0.29x (0015's body); at this load the rounds' noise is larger than the
  gain. docs/sql.md ("Publish (migration 0025)") gives the rounds. The goal (0.5x) is still missed; the remaining
  time is in compute_comparison_stats, compute_checkpoint_stats (nine grouping sets each), compute_comparison_moments
  and planning in the publish's fresh session.

Tried and dropped: compute_comparison_stats with each comparison's size and kind joined once from a 15-row subquery
(instead of comparison, checkpoint and run per fact row): the same rows, but 2.1x slower (0.31 -> 0.65 s, load
about 3.9): the subquery's estimate turned the final_surprisal join into per-row lookups.

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

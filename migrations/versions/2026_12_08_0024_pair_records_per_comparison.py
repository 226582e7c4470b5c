"""pair_records: each checkpoint's CE read once per comparison; position columns and directions only when read

Why: issue 23 (analysts' reads under 1 s at paper scale). On the paper-scale warehouse (5 sizes x 5 seeds x 20
steps, 4,662 positions; bench/report.py --builder synthetic), EXPLAIN ANALYZE showed where 0020's pair_records spent
a read's time: one size's seed pairs at one step (93,240 rows) ran 186,480 index probes for ce_a and ce_b (the
scalar subqueries ran once per output row, both directions), most of its 0.84 s of execution; the learnability read
(kind = 'consecutive_step', seed 1, direction 'ab', 443k pair rows aggregated) built both directions of every row
with a LATERAL VALUES and joined every row with position, corpus and vocab_token, none of which it reads.

The view now (sql/021_pair_records.sql, whose comments say why each join is where it is): reads each comparison's
pair_token rows, then joins each checkpoint's CE from a LATERAL subquery over that checkpoint's checkpoint_token
index range, grouped by position_id (one row per position, as the table's key already is), so the CE costs one
range scan per checkpoint and comparison and is dropped by the planner when neither ce_a nor ce_b is read; takes
the position's columns by LEFT JOINs of position, corpus and vocab_token (dropped when none is read; every
pair_token row has its position, as each fact partition is exactly one corpus's position range, so the rows are the
same); and unfolds the two directions last from a constant two-row list (a filter on direction keeps one).
The same rows and values as 0020 (tests/test_views.py's pandas oracle; bench/reads.py compares both definitions'
rows on the paper-scale warehouse before timing them). bench/reads.py, both side by side in one process (best of 3
alternating rounds, 2 shared cores at load 10.7-13.3), server time (planning + execution) 0020 -> 0024: a size's seed
pairs at one step 0.84 -> 0.33 s, the learnability read 1.16 -> 0.43 s, one comparison 0.13 -> 0.07 s; fetched whole
into Python 1.74 -> 1.09 s, 1.08 -> 0.40 s, 0.22 -> 0.14 s. docs/sql.md quotes the whole run.

No table changes, no index changes, no other view changes.

Upgrade: pair_records replaced (with every later object: views.replace). Downgrade: pair_records as 0020 loaded it
(sql/history/pair_records@0020.sql).

Revision ID: 0024
Revises: 0020
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0024"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    views.replace(op.get_bind(), "pair_records", as_of=revision)


def downgrade() -> None:
    views.replace(op.get_bind(), "pair_records", as_of="0020")  # re-creates every later object from its newest file

"""pair_records: each checkpoint's CE looked up once per pair row; position columns and directions only when read

Why: issue 23 (analysts' reads under 1 s at paper scale). On a paper-scale warehouse (5 sizes x 5 seeds x 20 steps,
4,662 positions; bench/report.py --builder synthetic's facts), EXPLAIN ANALYZE showed where 0020's pair_records
spent a read's time: one size's seed pairs at one step (93,240 rows) ran 186,480 index probes for ce_a and ce_b (its
scalar subqueries ran once per output row, so once per direction); the learnability read of docs/sql.md
(kind = 'consecutive_step', seed 1, direction 'ab': 443k pair rows aggregated) built both directions of every row
with a LATERAL VALUES, then filtered, and joined every row with position, corpus and vocab_token, none of which it
reads.

The view now (sql/021_pair_records.sql, whose comments say why each join is where it is): joins each checkpoint's CE
from a LATERAL aggregate over its primary key, once per pair_token row before the directions are unfolded (half the
probes; the planner drops it when neither ce_a nor ce_b is read); takes the position's columns by LEFT JOINs of
position, corpus and vocab_token (dropped when none is read; every pair_token row has its position, as each fact
partition is exactly one corpus's position range, so the rows are the same); and unfolds the two directions last
from a constant two-row list (a filter on direction keeps one). Tried and dropped: the CE as one index range per
comparison (a size's seed pairs at one step 0.27 s instead of 0.59 s on the server, but 101 positions of every
comparison 6.9 s instead of 1.1 s: a bound on position_id does not reach a per-comparison range).

The same rows and values as 0020 (tests/test_views.py's pandas oracle; bench/reads.py compares both definitions'
rows on the paper-scale warehouse before timing them). bench/reads.py, both side by side in one process (best of 3
alternating rounds, 2 shared cores at load 5.6-6.0), server time (planning + execution) 0020 -> 0024: a size's seed
pairs at one step 0.545 -> 0.451 s, the learnability read 0.746 -> 0.308 s, one comparison 0.085 -> 0.072 s, 101
positions of every comparison 1.759 -> 0.877 s; docs/sql.md quotes the whole run.

No table changes, no index changes, no other view changes.

Upgrade: pair_records replaced (with every later object: views.replace). Downgrade: pair_records as 0020 loaded it
(sql/history/pair_records@0020.sql).

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-08 00:10:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    views.replace(op.get_bind(), "pair_records", as_of=revision)


def downgrade() -> None:
    views.replace(op.get_bind(), "pair_records", as_of="0020")  # re-creates every later object from its newest file

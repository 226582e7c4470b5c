"""comments that name the analytics files by their layered paths

Why: issue 21 laid the live SQL out by layer (sql/<layer>/<name>.sql) and froze each loaded version beside the
migrations (migrations/sql/<name>@<revision>.sql). Three objects' header comments and three aggregate tables'
comments still pointed at the old numbered files (sql/045_..., sql/078, sql/03x_...), which no longer exist.

Upgrade: phase_boundaries, compute_phase_boundaries and comparison_regression_sums re-created from their 0026
versions (only their comments differ from 0014 / 0016: same columns, same rows), and the comments of
final_surprisal, checkpoint_stats and comparison_stats name sql/compute/... Downgrade: the previous versions and
comments.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 04:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

OBJECTS = ("compute_phase_boundaries", "phase_boundaries", "comparison_regression_sums")

TABLE_COMMENTS = {
    "final_surprisal": (
        "Each position's surprisal at the end of training per model size and corpus "
        "(see sql/030_compute_final_surprisal.sql).",
        "Each position's surprisal at the end of training per model size and corpus "
        "(see sql/compute/compute_final_surprisal.sql).",
    ),
    "checkpoint_stats": (
        "Per checkpoint, corpus and category: means of the per-token statistics "
        "(see sql/031_compute_checkpoint_stats.sql and docs/sql.md).",
        "Per checkpoint, corpus and category: means of the per-token statistics "
        "(see sql/compute/compute_checkpoint_stats.sql and docs/sql.md).",
    ),
    "comparison_stats": (
        "Per comparison, corpus and category: mean symmetrised KL over the positions "
        "(see sql/032_compute_comparison_stats.sql and docs/sql.md).",
        "Per comparison, corpus and category: mean symmetrised KL over the positions "
        "(see sql/compute/compute_comparison_stats.sql and docs/sql.md).",
    ),
}


def _load(as_of: str) -> None:
    connection = op.get_bind()
    for name in OBJECTS:  # CREATE OR REPLACE: the columns are unchanged, so each is replaced in place
        views.create(connection, name, as_of=as_of)


def upgrade() -> None:
    _load(revision)
    for table, (old, new) in TABLE_COMMENTS.items():
        op.create_table_comment(table, new, existing_comment=old)


def downgrade() -> None:
    _load(down_revision)
    for table, (old, new) in TABLE_COMMENTS.items():
        op.create_table_comment(table, old, existing_comment=new)

"""regression views without re-grouping

Why: bench/scale.py measured full reads of regression_cells (20 s) and regression_moments (7 s) on one paper-scale
suite: the 0003 views re-grouped every row although only cross_size has several comparison groups per size and step.
The other kinds now pass straight through; cross_size groups are still pooled exactly. Same columns and rows.
Nothing depends on these views and no aggregate changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:05:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANGED = ("regression_cells", "regression_moments")


def upgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        sqlfiles.drop(connection, name)
        sqlfiles.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        sqlfiles.drop(connection, name)
        sqlfiles.create(connection, name, as_of="0003")

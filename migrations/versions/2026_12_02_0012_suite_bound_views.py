"""regression views and relative_divergence read only the suite asked for

Why: regression_cells and regression_moments read their aggregate through a CTE referenced twice, which PostgreSQL
materialises before any filter applies: `WHERE suite = 'x'` read every suite's cells (bench/scale.py: 0.44 s for a
one-unit suite beside one paper-scale suite, growing with the warehouse; about 7 s at x16). The CTE is now NOT
MATERIALIZED and the cross-size window partitions by suite too, so a filter on suite reaches the aggregate's index
in every branch: a suite's read costs its own rows (0.06 s for the same one-unit suite). relative_divergence joined
the grouped expected_kl on suite_id only, so a filter on suite could not reach it (every suite's E[KL] was
computed); the join names suite too. Same columns and rows; nothing depends on these views and no aggregate changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 11:20:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# view -> the revision that loaded its previous version
CHANGED = {"relative_divergence": "0007", "regression_cells": "0005", "regression_moments": "0005"}


def upgrade() -> None:
    connection = op.get_bind()
    for name in CHANGED:
        views.drop(connection, name)
        views.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name, previous in CHANGED.items():
        views.drop(connection, name)
        views.create(connection, name, as_of=previous)

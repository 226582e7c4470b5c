"""comparison_group_member over base tables: a unit's group members found through indexes

Why: the aggregate maintenance looks up the members of a unit's few comparison groups through
comparison_group_member, which joined comparison_info (sizes and steps out of joins) to comparison_group, so every
lookup hash-joined every comparison of the warehouse: bench/scale.py measured maintain_aggregates at 0.67 s per
paper-scale unit on one suite and 0.86 s on sixteen (24k comparisons; compute_conditional_kl alone 17 -> 67 ms).
The view now joins the base tables on their keys (group -> runs of its model -> checkpoints at its step ->
comparisons of its kind -> checkpoint b at its step and model), which the planner walks through their unique
indexes. Same columns and rows; replaced in place (CREATE OR REPLACE VIEW), so nothing that depends on it changes.
compute_position_kl and compute_conditional_kl also bound their join to the view by group (they joined it by
comparison only, which the planner answered by listing every member of every group): conditional_kl 57 -> 18 ms
for one unit at x16. Same results, so no aggregate is rebuilt.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 11:50:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


# object -> the revision that loaded its previous version (functions and a view replaced in place)
CHANGED = {"comparison_group_member": "0003", "compute_position_kl": "0009", "compute_conditional_kl": "0009"}


def upgrade() -> None:
    for name in CHANGED:
        views.create(op.get_bind(), name, as_of=revision)


def downgrade() -> None:
    for name, previous in CHANGED.items():
        views.create(op.get_bind(), name, as_of=previous)

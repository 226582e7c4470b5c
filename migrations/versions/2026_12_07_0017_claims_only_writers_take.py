"""maintain_aggregates and rebuild_aggregates serialise on row locks: publish locks only writers can take

Why: the publishes that share a model size or a comparison group were serialised by transaction-level advisory
locks (classes 0x43445632 and 0x43445633), and the ledger's claims by session advisory locks. Any role may take an
advisory lock, the read-only analyst of `convdiv db grant-analyst` included: an analyst holding one stalled every
publish of that size until CONVDIV_LOCK_TIMEOUT, or made an ingest believe a unit was being computed and exit 0 with
it undone (issue 24). Both functions now lock the model row of each size and the comparison_group row of each group
(FOR NO KEY UPDATE, same order: sizes, then groups, ascending), which needs UPDATE on those tables; the claims are
row locks on the ledger (convdiv.warehouse.ledger, no schema change). Same rows written, so no aggregate is rebuilt.
No table changes.

Upgrade: both functions replaced in place (CREATE OR REPLACE). Downgrade: their migration-0013 versions back.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:00:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# function -> the revision that loaded its previous version (replaced in place)
CHANGED = {"maintain_aggregates": "0013", "rebuild_aggregates": "0013"}


def upgrade() -> None:
    for name in CHANGED:
        views.create(op.get_bind(), name, as_of=revision)


def downgrade() -> None:
    for name, previous in CHANGED.items():
        views.create(op.get_bind(), name, as_of=previous)

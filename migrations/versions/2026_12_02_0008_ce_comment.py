"""checkpoint_token.ce says which surprisal it is

Why: results version 3 stores `ce` as the model's own surprisal over its full output width (the study's convention
and the training loss) while entropy and every KL stay over the renormalised real vocabulary; the column comment,
which analysts read with `\\d+ checkpoint_token`, still described the old convention. Comment only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NEW = ("Surprisal -log p(w(x+1)) in nats under the model's own distribution over its full output width (softmax over "
       "all logits, padded columns included: the study's surprisal and the training loss); entropy and the KLs use "
       "the renormalised real vocabulary |V|.")
OLD = "Cross-entropy (surprisal) -log p(w(x+1)) in nats."


def upgrade() -> None:
    op.alter_column("checkpoint_token", "ce", existing_type=sa.REAL(), existing_nullable=False, comment=NEW,
                    existing_comment=OLD)


def downgrade() -> None:
    op.alter_column("checkpoint_token", "ce", existing_type=sa.REAL(), existing_nullable=False, comment=OLD,
                    existing_comment=NEW)

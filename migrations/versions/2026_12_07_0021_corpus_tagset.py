"""corpus_summary.tagset: the tagset of a corpus's POS(t) and POS(t-1), 'ptb' or 'upos'

Why: issue 22 (other tagsets and languages). `convdiv corpus add --tagset upos` writes the Universal POS tags into
position.pos_t / pos_prev, so every view and report section that groups by POS(t) or POS(t-1) works unchanged and
corpora in different languages share one tag set. The corpus records which tagset its tags are in (corpus.options'
tagset key, written by `corpus add`), and corpus_summary shows it, so the report and an analyst can say which one a
figure uses. Corpora added before tagsets existed were all tagged with the pipeline's fine-grained tag_ (Penn
Treebank in English): no key, shown as 'ptb'.

No table changes: a new column on corpus would break the earlier migrations that re-create corpus_summary from its
newest file (views.replace re-creates every later object), since the column would not exist yet at their revision;
corpus.options exists since 0001.

Upgrade: corpus_summary with the column appended (replaced in place). Downgrade: corpus_summary as 0010 loaded it
(sql/history/corpus_summary@0010.sql).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 23:55:00
"""

from __future__ import annotations

from alembic import op

from convdiv.warehouse import views

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    views.create(op.get_bind(), "corpus_summary", as_of=revision)


def downgrade() -> None:
    views.replace(op.get_bind(), "corpus_summary", as_of="0010")

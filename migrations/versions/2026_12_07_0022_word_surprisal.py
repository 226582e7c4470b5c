"""word-level surprisal: the corpus's spaCy words (corpus_word), each position's word, views word_surprisal, word_ce

Why: issue 22 (tokenizers compared by word). KL between two models exists only within one vocabulary, but
surprisal does not need one: summed over a word's tokens, with words cut by the corpus's own spaCy segmentation
(character spans of the text, the same whatever the tokenizer), it lets suites with different tokenizers be
compared on the same documents. The warehouse kept the spaCy words only as POS tags and begin/end flags of tokens;
this revision stores them.

Upgrade: table corpus_word (corpus_id, document, word, start_char, end_char, n_tokens, text); column position.word
(the word the target token counts towards; rule in convdiv/corpus/align.py token_words and sql/090); column
corpus.words_sha256 (documents and word spans: equal = the same text cut into the same words); views
word_surprisal (per checkpoint and word), word_ce (mean over complete words per checkpoint) and
corpus_tokenizations (which corpora are tokenizations of the same documents, which have no words). Existing corpora
are not backfilled: the warehouse does not keep the documents' text (only token ids and decoded token texts, from
which byte-level tokens cannot always rebuild the characters) and segmenting needs spaCy, which a migration must
not run. Their position.word, corpus_word and words_sha256 stay empty (NULL), so word_surprisal and word_ce have no
rows for them and say so in their headers; `convdiv corpus add NAME ... --replace` adds the words (its facts go
with the old corpus: ingest again). The new columns are NULL-able: ADD COLUMN changes no existing row.

Downgrade: drop the two views, the table and the two columns (word data is lost; corpora stay).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from convdiv.warehouse import views

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Every object of the analysis layer in creation order, as of this revision.
OBJECTS = (
    "cascade_aggregates",
    "convdiv_setting",
    "t_quantile_975",
    "position_features",
    "checkpoint_info",
    "comparison_info",
    "comparison_group_info",
    "comparison_group_member",
    "token_records",
    "pair_records",
    "regression_inputs",
    "compute_comparison_moments",
    "compute_final_surprisal",
    "compute_checkpoint_stats",
    "compute_comparison_stats",
    "compute_token_ce",
    "compute_position_kl",
    "compute_context_variance",
    "compute_token_kl",
    "compute_regression_cells",
    "compute_regression_moments",
    "compute_conditional_kl",
    "expected_kl",
    "reference_kl",
    "conditional_kl",
    "relative_divergence",
    "ce_difference",
    "compute_phase_boundaries",
    "phase_boundaries",
    "position_kl",
    "token_divergence",
    "context_variance",
    "regression_cells",
    "regression_moments",
    "maintain_aggregates",
    "rebuild_aggregates",
    "check_aggregates",
    "suite_summary",
    "corpus_summary",
    "checkpoint_coverage",
    "ingest_coverage",
    "ingest_provenance",
    "example_tokens",
    "comparison_kl",
    "comparison_moments",
    "compute_comparison_regression_sums",
    "comparison_regression_sums",
    "divergence_stability",
    "word_surprisal",
    "word_ce",
    "corpus_tokenizations",
)
NEW_VIEWS = ("word_surprisal", "word_ce", "corpus_tokenizations")


def upgrade() -> None:
    op.add_column(
        "corpus",
        sa.Column(
            "words_sha256",
            sa.Text(),
            nullable=True,
            comment="sha256 of the documents and their spaCy word spans: equal across corpora = the same text cut "
            "into the same words (compare tokenizers by word); NULL for corpora added before migration 0022 (no "
            "words).",
        ),
    )
    op.add_column(
        "position",
        sa.Column(
            "word",
            sa.Integer(),
            nullable=True,
            comment="The spaCy word (corpus_word.word) the target token counts towards in word-level surprisal: "
            "the word of its first word character at or after its start; NULL for special tokens, trailing "
            "whitespace, and corpora added before migration 0022.",
        ),
    )
    op.create_table(
        "corpus_word",
        sa.Column("corpus_id", sa.SmallInteger(), nullable=False, comment="The corpus."),
        sa.Column("document", sa.Integer(), nullable=False, comment="Document number within the corpus."),
        sa.Column("word", sa.Integer(), nullable=False, comment="Word number within the document (0-based)."),
        sa.Column(
            "start_char", sa.Integer(), nullable=False, comment="First character of the word in the document text."
        ),
        sa.Column("end_char", sa.Integer(), nullable=False, comment="One past the word's last character."),
        sa.Column(
            "n_tokens",
            sa.Integer(),
            nullable=False,
            comment="Tokens of the document's full sequence (w(0) included) that belong to the word.",
        ),
        sa.Column(
            "text",
            sa.Text(),
            nullable=False,
            comment="The word's text: the document's characters start_char..end_char.",
        ),
        sa.ForeignKeyConstraint(
            ["corpus_id"], ["corpus.corpus_id"], name=op.f("fk_corpus_word_corpus_id_corpus"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("corpus_id", "document", "word", name=op.f("pk_corpus_word")),
        comment="The spaCy words of a corpus's documents (character spans, independent of the tokenizer): the "
        "units of word-level surprisal.",
    )
    connection = op.get_bind()
    for name in NEW_VIEWS:
        views.create(connection, name, as_of=revision)


def downgrade() -> None:
    connection = op.get_bind()
    for name in reversed(NEW_VIEWS):
        views.drop(connection, name)
    op.drop_table("corpus_word")
    op.drop_column("position", "word")
    op.drop_column("corpus", "words_sha256")

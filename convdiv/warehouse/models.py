"""The warehouse schema as typed SQLAlchemy 2.0 tables.

Alembic migrations (``migrations/versions``) create these; ``tests/test_migrations.py`` checks that the models
and the migrations never drift apart. Analysts read the catalog, so every table and column carries a comment.

Shape (the views over it: ``docs/sql.md``): dimensions (suite, model, run, checkpoint, corpus, vocab_token,
position) with small integer surrogate keys, two fact tables (checkpoint_token, pair_token) keyed by two integers
and holding float4, partitioned by position_id with one partition per corpus (migration 0011; ``partitions.py``),
and an ingest ledger (ingest_run, ingest_unit). Facts have a primary key of just the two integer keys (MLflow's
six-column primary key on metrics is the mistake avoided here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Every constraint and index gets a deterministic name, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

COMPARISON_KINDS = ("seed_pair", "consecutive_step", "cross_size")
# results version 3 (issue 15): the study's surprisal convention, stated where analysts read the catalog
CE_COMMENT = (
    "Surprisal -log p(w(x+1)) in nats under the model's own distribution over its full output width "
    "(softmax over all logits, padded columns included: the study's surprisal and the training loss); "
    "entropy and the KLs use the renormalised real vocabulary |V|."
)
UNIT_STATUSES = ("pending", "running", "done", "failed")
RUN_STATUSES = ("running", "done", "failed", "aborted")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --------------------------------------------------------------------------------------------- dimensions


class Suite(Base):
    __tablename__ = "suite"
    __table_args__ = (
        UniqueConstraint("name"),
        {"comment": "A family of training runs: sizes x seeds x checkpoints (e.g. pythia, polypythias, demo)."},
    )

    suite_id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True, comment="Surrogate key.")
    name: Mapped[str] = mapped_column(Text, comment="Suite name as given to convdiv (e.g. 'demo', 'pythia').")
    source: Mapped[str] = mapped_column(Text, comment="Where checkpoints come from: 'hub' or 'local'.")
    tokenizer: Mapped[str] = mapped_column(Text, comment="Tokenizer hub id or local path shared by every run.")
    tokenizer_sha256: Mapped[str | None] = mapped_column(
        Text, comment="sha256 of the tokenizer's vocabulary and merges; must match the corpus's tokenizer."
    )
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="The resolved suite spec (sizes, seeds, steps).")
    origin: Mapped[str | None] = mapped_column(
        Text,
        comment="Where the suite comes from: 'local:<resolved folder>' or 'hub:<repository pattern>'; one name, one "
        "origin (NULL: written by hand, never matched by an ingest).",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="When the suite was first registered."
    )


class Model(Base):
    __tablename__ = "model"
    __table_args__ = (
        UniqueConstraint("suite_id", "size"),
        {"comment": "One model size of a suite (e.g. 70m)."},
    )

    model_id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True, comment="Surrogate key.")
    suite_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("suite.suite_id", ondelete="CASCADE"), comment="The suite this size belongs to."
    )
    size: Mapped[str] = mapped_column(Text, comment="Size label as the suite names it (e.g. '14m', '410m').")
    n_params: Mapped[int | None] = mapped_column(
        BigInteger, comment="Parameter count, read from the loaded model (NULL until a checkpoint was loaded)."
    )
    size_rank: Mapped[int] = mapped_column(
        SmallInteger, server_default="0", comment="Order of sizes from smallest (0) to largest, for plots."
    )


class Run(Base):
    __tablename__ = "run"
    __table_args__ = (
        UniqueConstraint("model_id", "seed"),
        {"comment": "One training run: a model size trained from one random seed."},
    )

    run_id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True, comment="Surrogate key.")
    model_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("model.model_id", ondelete="CASCADE"), comment="The model size of this run."
    )
    seed: Mapped[int] = mapped_column(Integer, comment="Random seed (initialisation and data order).")
    source: Mapped[str] = mapped_column(
        Text, comment="Hub repository id (EleutherAI/pythia-70m-seed3) or local directory of the run."
    )


class Checkpoint(Base):
    __tablename__ = "checkpoint"
    __table_args__ = (
        UniqueConstraint("run_id", "step"),
        {"comment": "A saved state of a run at a training step."},
    )

    checkpoint_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    run_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("run.run_id", ondelete="CASCADE"), comment="The run this checkpoint belongs to."
    )
    step: Mapped[int] = mapped_column(Integer, comment="Training step t (0 = initialisation).")
    revision: Mapped[str | None] = mapped_column(Text, comment="Hub revision (branch 'step1000') or NULL.")
    weights_sha256: Mapped[str | None] = mapped_column(
        Text, comment="sha256 over the checkpoint's safetensors files; equal values across steps flag a bad branch."
    )


class Corpus(Base):
    __tablename__ = "corpus"
    __table_args__ = (
        UniqueConstraint("name"),
        {"comment": "Validation text tokenised with one tokenizer; its tokens become positions."},
    )

    corpus_id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True, comment="Surrogate key.")
    name: Mapped[str] = mapped_column(Text, comment="Corpus name (e.g. 'demo-validation', 'pile-sample').")
    tokenizer: Mapped[str] = mapped_column(Text, comment="Tokenizer hub id or local path used to tokenise.")
    tokenizer_sha256: Mapped[str] = mapped_column(Text, comment="sha256 of the tokenizer's vocabulary and merges.")
    vocab_size: Mapped[int] = mapped_column(Integer, comment="len(tokenizer): the real vocabulary |V|.")
    content_sha256: Mapped[str] = mapped_column(
        Text, comment="sha256 of documents, tokenizer and options: equal hash = identical corpus."
    )
    n_documents: Mapped[int] = mapped_column(Integer, comment="Number of documents.")
    n_positions: Mapped[int] = mapped_column(Integer, comment="Number of positions (predicted tokens).")
    spacy_model: Mapped[str | None] = mapped_column(Text, comment="spaCy pipeline that produced the POS tags.")
    words_sha256: Mapped[str | None] = mapped_column(
        Text,
        comment="sha256 of the documents and their spaCy word spans: equal across corpora = the same text cut into "
        "the same words (compare tokenizers by word); NULL for corpora added before migration 0022 (no words).",
    )
    frequency_source: Mapped[str] = mapped_column(
        Text, comment="Where token frequencies come from: 'self', a .npy file or another text source."
    )
    options: Mapped[dict[str, Any]] = mapped_column(
        JSONB, comment="Tokenisation options (BOS/EOS, separator, smoothing) as given."
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="When the corpus was loaded."
    )


class VocabToken(Base):
    __tablename__ = "vocab_token"
    __table_args__ = ({"comment": "The tokenizer's vocabulary as seen by one corpus: text, frequency, unigram."},)

    corpus_id: Mapped[int] = mapped_column(
        SmallInteger,
        ForeignKey("corpus.corpus_id", ondelete="CASCADE"),
        primary_key=True,
        comment="The corpus whose frequency source counted this token.",
    )
    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Token id in the tokenizer.")
    token: Mapped[str] = mapped_column(Text, comment="Decoded token text (leading space kept).")
    frequency: Mapped[int] = mapped_column(BigInteger, comment="Count of this token in the frequency source.")
    unigram_logprob: Mapped[float] = mapped_column(
        Double, comment="log q(token) in nats, q = add-alpha smoothed unigram of the frequency source."
    )


class Position(Base):
    __tablename__ = "position"
    __table_args__ = (
        UniqueConstraint("corpus_id", "document", "idx"),
        {"comment": "A position x of a document: context token w(x) predicting target token w(x+1)."},
    )

    position_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    corpus_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("corpus.corpus_id", ondelete="CASCADE"), comment="The corpus."
    )
    document: Mapped[int] = mapped_column(Integer, comment="Document number within the corpus (0-based).")
    idx: Mapped[int] = mapped_column(Integer, comment="Position x within the document (0-based).")
    context_token_id: Mapped[int] = mapped_column(Integer, comment="w(x): the last token of the context.")
    target_token_id: Mapped[int] = mapped_column(Integer, comment="w(x+1): the token to predict.")
    pos_t: Mapped[str | None] = mapped_column(
        Text, comment="POS(t): PTB tag of the target token's word; NULL for whitespace/special tokens."
    )
    pos_prev: Mapped[str | None] = mapped_column(Text, comment="POS(t-1): PTB tag of the context token's word.")
    upos_t: Mapped[str | None] = mapped_column(Text, comment="Universal POS (coarse) of the target token's word.")
    upos_prev: Mapped[str | None] = mapped_column(Text, comment="Universal POS of the context token's word.")
    group_t: Mapped[str | None] = mapped_column(
        Text, comment="Coarse group of POS(t): noun, verb, adjective, adverb, function, punctuation, number, other."
    )
    group_prev: Mapped[str | None] = mapped_column(Text, comment="Coarse group of POS(t-1).")
    begin_of_word: Mapped[bool] = mapped_column(Boolean, comment="The target token holds its word's first character.")
    end_of_word: Mapped[bool] = mapped_column(Boolean, comment="The target token holds its word's last character.")
    frequency: Mapped[int] = mapped_column(
        BigInteger, comment="Count of the target token in the corpus's frequency source."
    )
    word: Mapped[int | None] = mapped_column(
        Integer,
        comment="The spaCy word (corpus_word.word) the target token counts towards in word-level surprisal: the word "
        "of its first word character at or after its start; NULL for special tokens, trailing whitespace, and "
        "corpora added before migration 0022.",
    )


class CorpusWord(Base):
    __tablename__ = "corpus_word"
    __table_args__ = (
        {
            "comment": "The spaCy words of a corpus's documents (character spans, independent of the tokenizer): "
            "the units of word-level surprisal."
        },
    )

    corpus_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("corpus.corpus_id", ondelete="CASCADE"), primary_key=True, comment="The corpus."
    )
    document: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Document number within the corpus.")
    word: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Word number within the document (0-based).")
    start_char: Mapped[int] = mapped_column(Integer, comment="First character of the word in the document text.")
    end_char: Mapped[int] = mapped_column(Integer, comment="One past the word's last character.")
    n_tokens: Mapped[int] = mapped_column(
        Integer, comment="Tokens of the document's full sequence (w(0) included) that belong to the word."
    )
    text: Mapped[str] = mapped_column(Text, comment="The word's text: the document's characters start_char..end_char.")


class Comparison(Base):
    __tablename__ = "comparison"
    __table_args__ = (
        UniqueConstraint("kind", "checkpoint_a", "checkpoint_b"),
        CheckConstraint("checkpoint_a <> checkpoint_b", name="distinct_checkpoints"),
        CheckConstraint("kind IN ('seed_pair', 'consecutive_step', 'cross_size')", name="kind"),
        {"comment": "A pair of checkpoints compared position by position (KL in both directions)."},
    )

    comparison_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    kind: Mapped[str] = mapped_column(
        Text,
        comment="seed_pair (same size and step, two seeds), consecutive_step (same run, step t1 -> next step t2) "
        "or cross_size (same seed and step, two sizes).",
    )
    checkpoint_a: Mapped[int] = mapped_column(
        Integer, ForeignKey("checkpoint.checkpoint_id", ondelete="CASCADE"), comment="Checkpoint a (p_a)."
    )
    checkpoint_b: Mapped[int] = mapped_column(
        Integer, ForeignKey("checkpoint.checkpoint_id", ondelete="CASCADE"), comment="Checkpoint b (p_b)."
    )


# --------------------------------------------------------------------------------------------- facts


class CheckpointToken(Base):
    __tablename__ = "checkpoint_token"
    __table_args__ = (
        {
            "comment": "Per checkpoint and position: surprisal, entropy and KL to the reference distributions. "
            "Partitioned by position_id: one partition per corpus (checkpoint_token_c<corpus_id>).",
            "postgresql_partition_by": "RANGE (position_id)",
        },
    )
    # Key = two integers (8 bytes): the narrow primary key of the module docstring, checkpoint first so that one
    # checkpoint's rows are contiguous in the index (Citus-ready: the distribution column leads every key).
    # No foreign keys on facts (migration 0003): per-row FK triggers made every load 7x slower. The publish
    # transaction checks a unit's references set-wise while its rows are staged (ledger.publish_unit), and the
    # deletes that used to cascade are explicit statements (unit re-publish) or partition drops (corpus removal).
    # Partitioned by RANGE (position_id) (migration 0011; convdiv/warehouse/partitions.py): one partition per
    # corpus, created by `corpus add`, dropped by `corpus remove`; the key's second column is the partition key.
    checkpoint_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, comment="The checkpoint (checkpoint.checkpoint_id)."
    )
    position_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="The position (position.position_id).")
    ce: Mapped[float] = mapped_column(REAL, comment=CE_COMMENT)
    entropy: Mapped[float] = mapped_column(REAL, comment="Entropy H(p) of the predicted distribution, nats.")
    kl_uniform: Mapped[float] = mapped_column(REAL, comment="KL(p || uniform) = log|V| - H(p), nats.")
    kl_unigram: Mapped[float] = mapped_column(REAL, comment="KL(p || q), q = the corpus's smoothed unigram, nats.")


class PairToken(Base):
    __tablename__ = "pair_token"
    __table_args__ = (
        {
            "comment": "Per comparison and position: KL between the two checkpoints' next-token distributions. "
            "Partitioned by position_id: one partition per corpus (pair_token_c<corpus_id>).",
            "postgresql_partition_by": "RANGE (position_id)",
        },
    )

    comparison_id: Mapped[int] = mapped_column(
        Integer, primary_key=True, comment="The comparison (comparison.comparison_id)."
    )
    position_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="The position (position.position_id).")
    kl_ab: Mapped[float] = mapped_column(REAL, comment="KL(p_a || p_b) in nats.")
    kl_ba: Mapped[float] = mapped_column(REAL, comment="KL(p_b || p_a) in nats.")


# --------------------------------------------------------------------------------------------- aggregates
# Maintained where facts are published (migration 0003; sql/06x_* functions): the publish transaction of a unit
# recomputes the rows of the checkpoints, comparisons and comparison groups it touched from their facts (through
# the facts' primary-key indexes, so the cost is the unit's, not the warehouse's). Readers never wait: no REFRESH.
# Tables named like a view of docs/sql.md hold that view's columns; agg_* tables are read through views of sql/.


class ComparisonGroup(Base):
    __tablename__ = "comparison_group"
    __table_args__ = (
        UniqueConstraint("kind", "model_a", "model_b", "step_a", "step_b"),
        {
            "comment": "The comparisons averaged together by the analyses: one kind, size pair and step pair "
            "(seed pairs of one size and step; consecutive steps t1 -> t2 of one size; cross sizes)."
        },
    )

    group_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    kind: Mapped[str] = mapped_column(Text, comment="Comparison kind (seed_pair, consecutive_step, cross_size).")
    model_a: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("model.model_id", ondelete="CASCADE"), comment="Model size of checkpoint a."
    )
    model_b: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("model.model_id", ondelete="CASCADE"), comment="Model size of checkpoint b."
    )
    step_a: Mapped[int] = mapped_column(Integer, comment="Step of checkpoint a.")
    step_b: Mapped[int] = mapped_column(Integer, comment="Step of checkpoint b.")


# The aggregate tables below have no foreign keys (migration 0020): their rows are written only by the aggregate
# functions, from joins over existing dimension rows, and a per-row key check on each of a unit's ~50k aggregate rows
# was more than half of its aggregate upkeep. Deleting a corpus, model, checkpoint, comparison or comparison group
# still deletes their aggregate rows: statement-level triggers do it (cascade_aggregates, migration 0020).
def _corpus_key(comment: str = "The corpus.") -> Mapped[int]:
    return mapped_column(SmallInteger, primary_key=True, comment=comment)


class FinalSurprisal(Base):
    __tablename__ = "final_surprisal"
    __table_args__ = (
        {
            "comment": "Each position's surprisal at the end of training per model size and corpus "
            "(see sql/compute/compute_final_surprisal.sql)."
        },
    )

    model_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, comment="The model size.")
    corpus_id: Mapped[int] = _corpus_key()
    position_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="The position.")
    final_step: Mapped[int] = mapped_column(Integer, comment="Last step of the size with facts in the corpus.")
    n_seeds: Mapped[int] = mapped_column(BigInteger, comment="Seeds with a row at final_step.")
    final_ce: Mapped[float] = mapped_column(Double, comment="Mean CE over those seeds at final_step, nats.")
    surprisal_bin_order: Mapped[int] = mapped_column(Integer, comment="0..4 for [0,1), [1,2), [2,4), [4,8), [8,inf).")
    surprisal_bin: Mapped[str] = mapped_column(Text, comment="Bin label: '0-1', '1-2', '2-4', '4-8', '8+'.")


class CheckpointStats(Base):
    __tablename__ = "checkpoint_stats"
    __table_args__ = (
        {
            "comment": "Per checkpoint, corpus and category: means of the per-token statistics "
            "(see sql/compute/compute_checkpoint_stats.sql and docs/sql.md)."
        },
    )

    checkpoint_id: Mapped[int] = mapped_column(
        Integer,
        primary_key=True,
        comment="The checkpoint.",
    )
    corpus_id: Mapped[int] = _corpus_key()
    family: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category family ('all', 'pos_t', ...).")
    category: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category within the family.")
    category_order: Mapped[int | None] = mapped_column(Integer, comment="Sort key of bins; NULL for POS tags.")
    n_positions: Mapped[int] = mapped_column(BigInteger, comment="Positions of the checkpoint in the category.")
    mean_ce: Mapped[float] = mapped_column(Double, comment="Mean CE over those positions, nats.")
    mean_entropy: Mapped[float] = mapped_column(Double, comment="Mean entropy, nats.")
    mean_kl_uniform: Mapped[float] = mapped_column(Double, comment="Mean KL to uniform, nats.")
    mean_kl_unigram: Mapped[float] = mapped_column(Double, comment="Mean KL to the unigram, nats.")


class ComparisonStats(Base):
    __tablename__ = "comparison_stats"
    __table_args__ = (
        {
            "comment": "Per comparison, corpus and category: mean symmetrised KL over the positions "
            "(see sql/compute/compute_comparison_stats.sql and docs/sql.md)."
        },
    )

    comparison_id: Mapped[int] = mapped_column(
        Integer,
        primary_key=True,
        comment="The comparison.",
    )
    corpus_id: Mapped[int] = _corpus_key()
    family: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category family ('all', 'pos_t', ...).")
    category: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category within the family.")
    category_order: Mapped[int | None] = mapped_column(Integer, comment="Sort key of bins; NULL for POS tags.")
    n_positions: Mapped[int] = mapped_column(BigInteger, comment="Positions of the comparison in the category.")
    mean_kl: Mapped[float] = mapped_column(Double, comment="Mean of (KL(p_a||p_b) + KL(p_b||p_a)) / 2, nats.")


class AggTokenCe(Base):
    __tablename__ = "agg_token_ce"
    __table_args__ = (
        {
            "comment": "Mean CE per model size, step, corpus and predicted token over every seed's "
            "checkpoint (token_divergence's CE side)."
        },
    )

    model_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, comment="The model size.")
    step: Mapped[int] = mapped_column(Integer, primary_key=True, comment="The step.")
    corpus_id: Mapped[int] = _corpus_key()
    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Predicted token w(x+1).")
    n: Mapped[int] = mapped_column(BigInteger, comment="(checkpoint, position) rows of the token.")
    mean_ce: Mapped[float] = mapped_column(Double, comment="Mean CE over those rows, nats.")


def _group_key() -> Mapped[int]:
    return mapped_column(
        Integer,
        primary_key=True,
        comment="The comparison group.",
    )


class AggPositionKl(Base):
    __tablename__ = "agg_position_kl"
    __table_args__ = (
        {
            "comment": "Per comparison group and position: E[KL](x) over the group's comparisons "
            "(read through the position_kl view)."
        },
    )

    group_id: Mapped[int] = _group_key()
    corpus_id: Mapped[int] = _corpus_key()
    position_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="The position x.")
    n_comparisons: Mapped[int] = mapped_column(Integer, comment="Comparisons with a row at x.")
    mean_kl: Mapped[float] = mapped_column(Double, comment="E[KL](x), nats.")
    m2_kl: Mapped[float] = mapped_column(Double, comment="Sum over those comparisons of (kl - mean_kl)^2.")


class AggContextVariance(Base):
    __tablename__ = "agg_context_variance"
    __table_args__ = (
        {
            "comment": "Per comparison group and corpus: mean and SD across positions of E[KL](x) "
            "(read through the context_variance view)."
        },
    )

    group_id: Mapped[int] = _group_key()
    corpus_id: Mapped[int] = _corpus_key()
    n_comparisons: Mapped[int] = mapped_column(Integer, comment="Comparisons per position (the largest).")
    n_positions: Mapped[int] = mapped_column(BigInteger, comment="Positions with at least one comparison.")
    mean_kl: Mapped[float] = mapped_column(Double, comment="Mean across positions of E[KL](x), nats.")
    sd_kl: Mapped[float | None] = mapped_column(Double, comment="Sample SD across positions of E[KL](x).")


class AggTokenKl(Base):
    __tablename__ = "agg_token_kl"
    __table_args__ = (
        {"comment": "Per comparison group, corpus and predicted token: pooled mean KL (token_divergence's KL side)."},
    )

    group_id: Mapped[int] = _group_key()
    corpus_id: Mapped[int] = _corpus_key()
    token_id: Mapped[int] = mapped_column(Integer, primary_key=True, comment="Predicted token w(x+1).")
    occurrences: Mapped[int] = mapped_column(BigInteger, comment="Positions that predict the token.")
    n_comparisons: Mapped[int] = mapped_column(Integer, comment="Comparisons per position (the largest).")
    mean_kl: Mapped[float] = mapped_column(Double, comment="Mean over all (comparison, position) rows, nats.")


class AggConditionalKl(Base):
    __tablename__ = "agg_conditional_kl"
    __table_args__ = (
        {
            "comment": "Per comparison group, corpus and category: E[KL | c] over the group's "
            "comparisons (read through the conditional_kl view)."
        },
    )

    group_id: Mapped[int] = _group_key()
    corpus_id: Mapped[int] = _corpus_key()
    family: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category family.")
    category: Mapped[str] = mapped_column(Text, primary_key=True, comment="Category within the family.")
    category_order: Mapped[int | None] = mapped_column(Integer, comment="Sort key of bins; NULL for POS tags.")
    n_comparisons: Mapped[int] = mapped_column(BigInteger, comment="Comparisons averaged.")
    n_positions: Mapped[int] = mapped_column(BigInteger, comment="Positions of the category per comparison (max).")
    mean_kl: Mapped[float] = mapped_column(Double, comment="Mean over comparisons of the category's mean KL.")
    sd_kl: Mapped[float | None] = mapped_column(Double, comment="Sample SD of the per-comparison means.")
    mean_ce: Mapped[float | None] = mapped_column(Double, comment="Mean over comparisons of (CE a + CE b) / 2.")


class AggRegressionCells(Base):
    __tablename__ = "agg_regression_cells"
    __table_args__ = (
        Index("ix_agg_regression_cells_group", "group_id", "corpus_id"),
        {
            "comment": "Per comparison group and cell of identical regressors (frequency, POS(t), POS(t-1)): n, mean "
            "and within-cell sum of squares of KL (read through the regression_cells view)."
        },
    )

    # Tags may be NULL (their own cell), so no primary key over them: the rows are replaced per group.
    row_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Surrogate key.")
    group_id: Mapped[int] = mapped_column(Integer, comment="The comparison group.")
    corpus_id: Mapped[int] = mapped_column(SmallInteger, comment="The corpus.")
    frequency: Mapped[int] = mapped_column(BigInteger, comment="Count of the predicted token in the frequency source.")
    pos_t: Mapped[str | None] = mapped_column(Text, comment="POS(t) of the cell.")
    pos_prev: Mapped[str | None] = mapped_column(Text, comment="POS(t-1) of the cell.")
    n: Mapped[int] = mapped_column(BigInteger, comment="(comparison, position) rows in the cell.")
    mean_kl: Mapped[float] = mapped_column(Double, comment="Mean KL of those rows, nats.")
    ss_within: Mapped[float] = mapped_column(Double, comment="Sum over the rows of (kl - mean_kl)^2.")


class AggRegressionMoments(Base):
    __tablename__ = "agg_regression_moments"
    __table_args__ = (
        Index("ix_agg_regression_moments_group", "group_id", "corpus_id"),
        {
            "comment": "Per comparison group, POS(t) and POS(t-1): sufficient statistics of the regression "
            "(read through the regression_moments view)."
        },
    )

    row_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Surrogate key.")
    group_id: Mapped[int] = mapped_column(Integer, comment="The comparison group.")
    corpus_id: Mapped[int] = mapped_column(SmallInteger, comment="The corpus.")
    pos_t: Mapped[str | None] = mapped_column(Text, comment="POS(t) of the cell.")
    pos_prev: Mapped[str | None] = mapped_column(Text, comment="POS(t-1) of the cell.")
    n: Mapped[int] = mapped_column(BigInteger, comment="(comparison, position) rows with a log frequency.")
    sum_lf: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency).")
    sum_lf2: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency)^2.")
    sum_kl: Mapped[float] = mapped_column(Double, comment="Sum of kl.")
    sum_kl2: Mapped[float] = mapped_column(Double, comment="Sum of kl^2.")
    sum_lf_kl: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency) * kl.")


class AggComparisonMoments(Base):
    __tablename__ = "agg_comparison_moments"
    __table_args__ = (
        Index("ix_agg_comparison_moments_comparison", "comparison_id", "corpus_id"),
        {
            "comment": "Per comparison, POS(t) and POS(t-1): sufficient statistics of the regression over the "
            "comparison's positions (read through the comparison_moments view; the report's bootstrap over seeds)."
        },
    )

    # Tags may be NULL (their own cell), so no primary key over them: the rows are replaced per comparison.
    row_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, comment="Surrogate key.")
    comparison_id: Mapped[int] = mapped_column(Integer, comment="The comparison.")
    corpus_id: Mapped[int] = mapped_column(SmallInteger, comment="The corpus.")
    pos_t: Mapped[str | None] = mapped_column(Text, comment="POS(t) of the cell.")
    pos_prev: Mapped[str | None] = mapped_column(Text, comment="POS(t-1) of the cell.")
    n: Mapped[int] = mapped_column(BigInteger, comment="Positions of the comparison in the cell with a log frequency.")
    sum_lf: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency).")
    sum_lf2: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency)^2.")
    sum_kl: Mapped[float] = mapped_column(Double, comment="Sum of kl.")
    sum_kl2: Mapped[float] = mapped_column(Double, comment="Sum of kl^2.")
    sum_lf_kl: Mapped[float] = mapped_column(Double, comment="Sum of ln(frequency) * kl.")


# --------------------------------------------------------------------------------------------- ingest ledger


class IngestRun(Base):
    __tablename__ = "ingest_run"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'failed', 'aborted')", name="status"),
        {"comment": "One invocation of `convdiv ingest` (a worker process)."},
    )

    ingest_run_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="When the worker started."
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="When it finished.")
    convdiv_version: Mapped[str] = mapped_column(Text, comment="convdiv version that ran.")
    host: Mapped[str] = mapped_column(Text, comment="Hostname and pid of the worker.")
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="Command-line arguments as resolved.")
    status: Mapped[str] = mapped_column(Text, server_default="running", comment="running, done, failed or aborted.")
    heartbeat_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="Last heartbeat of the worker (every third of its lease)."
    )
    lease_until: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True),
        comment="A 'running' run whose lease ended is aborted and its units given back (CONVDIV_LEASE_SECONDS).",
    )
    aborted_reason: Mapped[str | None] = mapped_column(
        Text, comment="Why the run was aborted (lease expired, process gone)."
    )


class IngestUnit(Base):
    __tablename__ = "ingest_unit"
    __table_args__ = (
        UniqueConstraint("suite_id", "corpus_id", "unit_key"),
        CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),
        {"comment": "One unit of ingest work (suite x corpus x size x step group); visible facts = done units."},
    )

    unit_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    suite_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("suite.suite_id", ondelete="CASCADE"), comment="The suite."
    )
    corpus_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("corpus.corpus_id", ondelete="CASCADE"), comment="The corpus."
    )
    unit_key: Mapped[str] = mapped_column(Text, comment="What the unit covers, e.g. 'size=70m/step=512'.")
    status: Mapped[str] = mapped_column(Text, server_default="pending", comment="pending, running, done or failed.")
    ingest_run_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ingest_run.ingest_run_id", ondelete="SET NULL"), comment="Worker that last claimed it."
    )
    config_hash: Mapped[str | None] = mapped_column(
        Text, comment="sha256 of the settings that change results (weights sha256s, comparisons, context length)."
    )
    code_version: Mapped[str | None] = mapped_column(Text, comment="convdiv version that produced the rows.")
    device: Mapped[str | None] = mapped_column(Text, comment="Device of the forward pass (cpu, cuda:0).")
    dtype: Mapped[str | None] = mapped_column(Text, comment="Forward-pass dtype (float32, bfloat16, float16).")
    batch_tokens: Mapped[int | None] = mapped_column(Integer, comment="Tokens per forward batch.")
    rows_checkpoint_token: Mapped[int | None] = mapped_column(BigInteger, comment="checkpoint_token rows loaded.")
    rows_pair_token: Mapped[int | None] = mapped_column(BigInteger, comment="pair_token rows loaded.")
    elapsed_s: Mapped[float | None] = mapped_column(Double, comment="Wall-clock seconds for compute and load.")
    error: Mapped[str | None] = mapped_column(Text, comment="Last error message, for failed units.")
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="When last claimed.")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="When marked done/failed.")

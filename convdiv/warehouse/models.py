"""The warehouse schema as typed SQLAlchemy 2.0 tables.

Alembic migrations (``migrations/versions``) create these; ``tests/test_migrations.py`` checks that the models
and the migrations never drift apart. Analysts read the catalog, so every table and column carries a comment.

Shape (see ``design.md``): dimensions (suite, model, run, checkpoint, corpus, vocab_token, position) with small
integer surrogate keys, two fact tables (checkpoint_token, pair_token) keyed by two integers and holding float4,
and an ingest ledger (ingest_run, ingest_unit). Facts have a primary key of just the
two integer keys (MLflow's six-column primary key on metrics is the mistake avoided here).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    REAL,
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
UNIT_STATUSES = ("pending", "running", "done", "failed")


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


class Comparison(Base):
    __tablename__ = "comparison"
    __table_args__ = (
        UniqueConstraint("kind", "checkpoint_a", "checkpoint_b"),
        CheckConstraint("checkpoint_a <> checkpoint_b", name="distinct_checkpoints"),
        CheckConstraint(
            "kind IN ('seed_pair', 'consecutive_step', 'cross_size')", name="kind"
        ),
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
        {"comment": "Per checkpoint and position: surprisal, entropy and KL to the reference distributions."},
    )
    # Key = two integers (8 bytes): the narrow primary key the design asks for, checkpoint first so that one
    # checkpoint's rows are contiguous in the index (Citus-ready: the distribution column leads every key).
    checkpoint_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("checkpoint.checkpoint_id", ondelete="CASCADE"), primary_key=True,
        comment="The checkpoint.",
    )
    position_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("position.position_id", ondelete="CASCADE"), primary_key=True, comment="The position."
    )
    ce: Mapped[float] = mapped_column(REAL, comment="Cross-entropy (surprisal) -log p(w(x+1)) in nats.")
    entropy: Mapped[float] = mapped_column(REAL, comment="Entropy H(p) of the predicted distribution, nats.")
    kl_uniform: Mapped[float] = mapped_column(REAL, comment="KL(p || uniform) = log|V| - H(p), nats.")
    kl_unigram: Mapped[float] = mapped_column(REAL, comment="KL(p || q), q = the corpus's smoothed unigram, nats.")


class PairToken(Base):
    __tablename__ = "pair_token"
    __table_args__ = (
        {"comment": "Per comparison and position: KL between the two checkpoints' next-token distributions."},
    )

    comparison_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("comparison.comparison_id", ondelete="CASCADE"), primary_key=True,
        comment="The comparison.",
    )
    position_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("position.position_id", ondelete="CASCADE"), primary_key=True, comment="The position."
    )
    kl_ab: Mapped[float] = mapped_column(REAL, comment="KL(p_a || p_b) in nats.")
    kl_ba: Mapped[float] = mapped_column(REAL, comment="KL(p_b || p_a) in nats.")


# --------------------------------------------------------------------------------------------- ingest ledger


class IngestRun(Base):
    __tablename__ = "ingest_run"
    __table_args__ = ({"comment": "One invocation of `convdiv ingest` (a worker process)."},)

    ingest_run_id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True, comment="Surrogate key.")
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), comment="When the worker started."
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="When it finished.")
    convdiv_version: Mapped[str] = mapped_column(Text, comment="convdiv version that ran.")
    host: Mapped[str] = mapped_column(Text, comment="Hostname and pid of the worker.")
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB, comment="Command-line arguments as resolved.")
    status: Mapped[str] = mapped_column(Text, server_default="running", comment="running, done or failed.")


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

"""initial schema

Why: the first warehouse: dimensions (suite, model, run, checkpoint, corpus, vocab_token, position),
facts (checkpoint_token, pair_token), comparisons and the ingest ledger. Generated from convdiv/warehouse/models.py
and kept in step with it by tests/test_migrations.py.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 14:30:16.199368
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('corpus',
    sa.Column('corpus_id', sa.SmallInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('name', sa.Text(), nullable=False, comment="Corpus name (e.g. 'demo-validation', 'pile-sample')."),
    sa.Column('tokenizer', sa.Text(), nullable=False, comment='Tokenizer hub id or local path used to tokenise.'),
    sa.Column('tokenizer_sha256', sa.Text(), nullable=False, comment="sha256 of the tokenizer's vocabulary and merges."),
    sa.Column('vocab_size', sa.Integer(), nullable=False, comment='len(tokenizer): the real vocabulary |V|.'),
    sa.Column('content_sha256', sa.Text(), nullable=False, comment='sha256 of documents, tokenizer and options: equal hash = identical corpus.'),
    sa.Column('n_documents', sa.Integer(), nullable=False, comment='Number of documents.'),
    sa.Column('n_positions', sa.Integer(), nullable=False, comment='Number of positions (predicted tokens).'),
    sa.Column('spacy_model', sa.Text(), nullable=True, comment='spaCy pipeline that produced the POS tags.'),
    sa.Column('frequency_source', sa.Text(), nullable=False, comment="Where token frequencies come from: 'self', a .npy file or another text source."),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='Tokenisation options (BOS/EOS, separator, smoothing) as given.'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the corpus was loaded.'),
    sa.PrimaryKeyConstraint('corpus_id', name=op.f('pk_corpus')),
    sa.UniqueConstraint('name', name=op.f('uq_corpus_name')),
    comment='Validation text tokenised with one tokenizer; its tokens become positions.'
    )
    op.create_table('ingest_run',
    sa.Column('ingest_run_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the worker started.'),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True, comment='When it finished.'),
    sa.Column('convdiv_version', sa.Text(), nullable=False, comment='convdiv version that ran.'),
    sa.Column('host', sa.Text(), nullable=False, comment='Hostname and pid of the worker.'),
    sa.Column('arguments', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='Command-line arguments as resolved.'),
    sa.Column('status', sa.Text(), server_default='running', nullable=False, comment='running, done or failed.'),
    sa.PrimaryKeyConstraint('ingest_run_id', name=op.f('pk_ingest_run')),
    comment='One invocation of `convdiv ingest` (a worker process).'
    )
    op.create_table('suite',
    sa.Column('suite_id', sa.SmallInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('name', sa.Text(), nullable=False, comment="Suite name as given to convdiv (e.g. 'demo', 'pythia')."),
    sa.Column('source', sa.Text(), nullable=False, comment="Where checkpoints come from: 'hub' or 'local'."),
    sa.Column('tokenizer', sa.Text(), nullable=False, comment='Tokenizer hub id or local path shared by every run.'),
    sa.Column('tokenizer_sha256', sa.Text(), nullable=True, comment="sha256 of the tokenizer's vocabulary and merges; must match the corpus's tokenizer."),
    sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='The resolved suite spec (sizes, seeds, steps).'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False, comment='When the suite was first registered.'),
    sa.PrimaryKeyConstraint('suite_id', name=op.f('pk_suite')),
    sa.UniqueConstraint('name', name=op.f('uq_suite_name')),
    comment='A family of training runs: sizes x seeds x checkpoints (e.g. pythia, polypythias, demo).'
    )
    op.create_table('ingest_unit',
    sa.Column('unit_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('suite_id', sa.SmallInteger(), nullable=False, comment='The suite.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('unit_key', sa.Text(), nullable=False, comment="What the unit covers, e.g. 'size=70m/step=512'."),
    sa.Column('status', sa.Text(), server_default='pending', nullable=False, comment='pending, running, done or failed.'),
    sa.Column('ingest_run_id', sa.Integer(), nullable=True, comment='Worker that last claimed it.'),
    sa.Column('config_hash', sa.Text(), nullable=True, comment='sha256 of the settings that change results (weights sha256s, comparisons, context length).'),
    sa.Column('code_version', sa.Text(), nullable=True, comment='convdiv version that produced the rows.'),
    sa.Column('device', sa.Text(), nullable=True, comment='Device of the forward pass (cpu, cuda:0).'),
    sa.Column('dtype', sa.Text(), nullable=True, comment='Forward-pass dtype (float32, bfloat16, float16).'),
    sa.Column('batch_tokens', sa.Integer(), nullable=True, comment='Tokens per forward batch.'),
    sa.Column('rows_checkpoint_token', sa.BigInteger(), nullable=True, comment='checkpoint_token rows loaded.'),
    sa.Column('rows_pair_token', sa.BigInteger(), nullable=True, comment='pair_token rows loaded.'),
    sa.Column('elapsed_s', sa.Double(), nullable=True, comment='Wall-clock seconds for compute and load.'),
    sa.Column('error', sa.Text(), nullable=True, comment='Last error message, for failed units.'),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True, comment='When last claimed.'),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True, comment='When marked done/failed.'),
    sa.CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name=op.f('ck_ingest_unit_status')),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_ingest_unit_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_run.ingest_run_id'], name=op.f('fk_ingest_unit_ingest_run_id_ingest_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['suite_id'], ['suite.suite_id'], name=op.f('fk_ingest_unit_suite_id_suite'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('unit_id', name=op.f('pk_ingest_unit')),
    sa.UniqueConstraint('suite_id', 'corpus_id', 'unit_key', name=op.f('uq_ingest_unit_suite_id_corpus_id_unit_key')),
    comment='One unit of ingest work (suite x corpus x size x step group); visible facts = done units.'
    )
    op.create_table('model',
    sa.Column('model_id', sa.SmallInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('suite_id', sa.SmallInteger(), nullable=False, comment='The suite this size belongs to.'),
    sa.Column('size', sa.Text(), nullable=False, comment="Size label as the suite names it (e.g. '14m', '410m')."),
    sa.Column('n_params', sa.BigInteger(), nullable=True, comment='Parameter count, read from the loaded model (NULL until a checkpoint was loaded).'),
    sa.Column('size_rank', sa.SmallInteger(), server_default='0', nullable=False, comment='Order of sizes from smallest (0) to largest, for plots.'),
    sa.ForeignKeyConstraint(['suite_id'], ['suite.suite_id'], name=op.f('fk_model_suite_id_suite'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', name=op.f('pk_model')),
    sa.UniqueConstraint('suite_id', 'size', name=op.f('uq_model_suite_id_size')),
    comment='One model size of a suite (e.g. 70m).'
    )
    op.create_table('position',
    sa.Column('position_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('document', sa.Integer(), nullable=False, comment='Document number within the corpus (0-based).'),
    sa.Column('idx', sa.Integer(), nullable=False, comment='Position x within the document (0-based).'),
    sa.Column('context_token_id', sa.Integer(), nullable=False, comment='w(x): the last token of the context.'),
    sa.Column('target_token_id', sa.Integer(), nullable=False, comment='w(x+1): the token to predict.'),
    sa.Column('pos_t', sa.Text(), nullable=True, comment="POS(t): PTB tag of the target token's word; NULL for whitespace/special tokens."),
    sa.Column('pos_prev', sa.Text(), nullable=True, comment="POS(t-1): PTB tag of the context token's word."),
    sa.Column('upos_t', sa.Text(), nullable=True, comment="Universal POS (coarse) of the target token's word."),
    sa.Column('upos_prev', sa.Text(), nullable=True, comment="Universal POS of the context token's word."),
    sa.Column('group_t', sa.Text(), nullable=True, comment='Coarse group of POS(t): noun, verb, adjective, adverb, function, punctuation, number, other.'),
    sa.Column('group_prev', sa.Text(), nullable=True, comment='Coarse group of POS(t-1).'),
    sa.Column('begin_of_word', sa.Boolean(), nullable=False, comment="The target token holds its word's first character."),
    sa.Column('end_of_word', sa.Boolean(), nullable=False, comment="The target token holds its word's last character."),
    sa.Column('frequency', sa.BigInteger(), nullable=False, comment="Count of the target token in the corpus's frequency source."),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_position_corpus_id_corpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('position_id', name=op.f('pk_position')),
    sa.UniqueConstraint('corpus_id', 'document', 'idx', name=op.f('uq_position_corpus_id_document_idx')),
    comment='A position x of a document: context token w(x) predicting target token w(x+1).'
    )
    op.create_table('vocab_token',
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus whose frequency source counted this token.'),
    sa.Column('token_id', sa.Integer(), nullable=False, comment='Token id in the tokenizer.'),
    sa.Column('token', sa.Text(), nullable=False, comment='Decoded token text (leading space kept).'),
    sa.Column('frequency', sa.BigInteger(), nullable=False, comment='Count of this token in the frequency source.'),
    sa.Column('unigram_logprob', sa.Double(), nullable=False, comment='log q(token) in nats, q = add-alpha smoothed unigram of the frequency source.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_vocab_token_corpus_id_corpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('corpus_id', 'token_id', name=op.f('pk_vocab_token')),
    comment="The tokenizer's vocabulary as seen by one corpus: text, frequency, unigram."
    )
    op.create_table('run',
    sa.Column('run_id', sa.SmallInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('model_id', sa.SmallInteger(), nullable=False, comment='The model size of this run.'),
    sa.Column('seed', sa.Integer(), nullable=False, comment='Random seed (initialisation and data order).'),
    sa.Column('source', sa.Text(), nullable=False, comment='Hub repository id (EleutherAI/pythia-70m-seed3) or local directory of the run.'),
    sa.ForeignKeyConstraint(['model_id'], ['model.model_id'], name=op.f('fk_run_model_id_model'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', name=op.f('pk_run')),
    sa.UniqueConstraint('model_id', 'seed', name=op.f('uq_run_model_id_seed')),
    comment='One training run: a model size trained from one random seed.'
    )
    op.create_table('checkpoint',
    sa.Column('checkpoint_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('run_id', sa.SmallInteger(), nullable=False, comment='The run this checkpoint belongs to.'),
    sa.Column('step', sa.Integer(), nullable=False, comment='Training step t (0 = initialisation).'),
    sa.Column('revision', sa.Text(), nullable=True, comment="Hub revision (branch 'step1000') or NULL."),
    sa.Column('weights_sha256', sa.Text(), nullable=True, comment="sha256 over the checkpoint's safetensors files; equal values across steps flag a bad branch."),
    sa.ForeignKeyConstraint(['run_id'], ['run.run_id'], name=op.f('fk_checkpoint_run_id_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('checkpoint_id', name=op.f('pk_checkpoint')),
    sa.UniqueConstraint('run_id', 'step', name=op.f('uq_checkpoint_run_id_step')),
    comment='A saved state of a run at a training step.'
    )
    op.create_table('checkpoint_token',
    sa.Column('checkpoint_id', sa.Integer(), nullable=False, comment='The checkpoint.'),
    sa.Column('position_id', sa.Integer(), nullable=False, comment='The position.'),
    sa.Column('ce', sa.REAL(), nullable=False, comment='Cross-entropy (surprisal) -log p(w(x+1)) in nats.'),
    sa.Column('entropy', sa.REAL(), nullable=False, comment='Entropy H(p) of the predicted distribution, nats.'),
    sa.Column('kl_uniform', sa.REAL(), nullable=False, comment='KL(p || uniform) = log|V| - H(p), nats.'),
    sa.Column('kl_unigram', sa.REAL(), nullable=False, comment="KL(p || q), q = the corpus's smoothed unigram, nats."),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoint.checkpoint_id'], name=op.f('fk_checkpoint_token_checkpoint_id_checkpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['position_id'], ['position.position_id'], name=op.f('fk_checkpoint_token_position_id_position'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('checkpoint_id', 'position_id', name=op.f('pk_checkpoint_token')),
    comment='Per checkpoint and position: surprisal, entropy and KL to the reference distributions.'
    )
    op.create_table('comparison',
    sa.Column('comparison_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('kind', sa.Text(), nullable=False, comment='seed_pair (same size and step, two seeds), consecutive_step (same run, step t1 -> next step t2) or cross_size (same seed and step, two sizes).'),
    sa.Column('checkpoint_a', sa.Integer(), nullable=False, comment='Checkpoint a (p_a).'),
    sa.Column('checkpoint_b', sa.Integer(), nullable=False, comment='Checkpoint b (p_b).'),
    sa.CheckConstraint("kind IN ('seed_pair', 'consecutive_step', 'cross_size')", name=op.f('ck_comparison_kind')),
    sa.CheckConstraint('checkpoint_a <> checkpoint_b', name=op.f('ck_comparison_distinct_checkpoints')),
    sa.ForeignKeyConstraint(['checkpoint_a'], ['checkpoint.checkpoint_id'], name=op.f('fk_comparison_checkpoint_a_checkpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['checkpoint_b'], ['checkpoint.checkpoint_id'], name=op.f('fk_comparison_checkpoint_b_checkpoint'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('comparison_id', name=op.f('pk_comparison')),
    sa.UniqueConstraint('kind', 'checkpoint_a', 'checkpoint_b', name=op.f('uq_comparison_kind_checkpoint_a_checkpoint_b')),
    comment='A pair of checkpoints compared position by position (KL in both directions).'
    )
    op.create_table('pair_token',
    sa.Column('comparison_id', sa.Integer(), nullable=False, comment='The comparison.'),
    sa.Column('position_id', sa.Integer(), nullable=False, comment='The position.'),
    sa.Column('kl_ab', sa.REAL(), nullable=False, comment='KL(p_a || p_b) in nats.'),
    sa.Column('kl_ba', sa.REAL(), nullable=False, comment='KL(p_b || p_a) in nats.'),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparison.comparison_id'], name=op.f('fk_pair_token_comparison_id_comparison'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['position_id'], ['position.position_id'], name=op.f('fk_pair_token_position_id_position'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('comparison_id', 'position_id', name=op.f('pk_pair_token')),
    comment="Per comparison and position: KL between the two checkpoints' next-token distributions."
    )


def downgrade() -> None:
    op.drop_table('pair_token')
    op.drop_table('comparison')
    op.drop_table('checkpoint_token')
    op.drop_table('checkpoint')
    op.drop_table('run')
    op.drop_table('vocab_token')
    op.drop_table('position')
    op.drop_table('model')
    op.drop_table('ingest_unit')
    op.drop_table('suite')
    op.drop_table('ingest_run')
    op.drop_table('corpus')

"""incremental aggregates

Why: until 0002 every ingest (and corpus add/remove) ended with REFRESH MATERIALIZED VIEW of every aggregate in one
transaction: an analyst's open transaction made it wait without a word, new readers then queued behind it, a kill
during the refresh left expected_kl empty, and its cost grew with the warehouse (99 s at paper scale, 283 s at 4x).
Every aggregate is a function of facts that exactly one unit writes, so the unit's publish transaction now
maintains them (sql/060_maintain_aggregates.sql): the materialised views become plain tables (same names and
columns where a view of docs/sql.md read them directly; agg_* tables read through views that keep the old names and
columns), backfilled here from the facts (rebuild_aggregates).

Also: the fact tables lose their foreign keys. Per-row FK triggers made every load 7x slower than the same COPY
without them; the publish now checks a unit's references set-wise while its rows are staged, and the deletes that
cascaded are explicit (corpus removal deletes the corpus's facts).

Downgrade restores 0002's materialised views (populated from the facts on creation) and foreign keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from convdiv.warehouse import views as sqlfiles

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The analysis layer at 0002, in creation order (dropped in reverse before the layout changes).
OBJECTS_0002 = (
    "convdiv_setting", "t_quantile_975", "position_features", "checkpoint_info", "comparison_info", "token_records",
    "pair_records", "regression_inputs", "final_surprisal", "checkpoint_stats", "comparison_stats", "expected_kl",
    "reference_kl", "conditional_kl", "relative_divergence", "ce_difference", "phase_boundaries", "position_kl",
    "token_divergence", "context_variance", "regression_cells", "regression_moments",
)
# Materialised at 0002, tables from here on (same name and columns).
BECOME_TABLES = ("final_surprisal", "checkpoint_stats", "comparison_stats")

# The analysis layer from this revision on, in creation order: every object depends only on those before it.
OBJECTS = (
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
    "phase_boundaries",
    "position_kl",
    "token_divergence",
    "context_variance",
    "regression_cells",
    "regression_moments",
    "maintain_aggregates",
    "rebuild_aggregates",
    "check_aggregates",
)


def upgrade() -> None:
    connection = op.get_bind()
    for name in reversed(OBJECTS_0002):
        sqlfiles.drop(connection, name)
    op.create_table('agg_token_ce',
    sa.Column('model_id', sa.SmallInteger(), nullable=False, comment='The model size.'),
    sa.Column('step', sa.Integer(), nullable=False, comment='The step.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('token_id', sa.Integer(), nullable=False, comment='Predicted token w(x+1).'),
    sa.Column('n', sa.BigInteger(), nullable=False, comment='(checkpoint, position) rows of the token.'),
    sa.Column('mean_ce', sa.Double(), nullable=False, comment='Mean CE over those rows, nats.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_token_ce_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['model.model_id'], name=op.f('fk_agg_token_ce_model_id_model'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'step', 'corpus_id', 'token_id', name=op.f('pk_agg_token_ce')),
    comment="Mean CE per model size, step, corpus and predicted token over every seed's checkpoint (token_divergence's CE side)."
    )
    op.create_table('comparison_group',
    sa.Column('group_id', sa.Integer(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('kind', sa.Text(), nullable=False, comment='Comparison kind (seed_pair, consecutive_step, cross_size).'),
    sa.Column('model_a', sa.SmallInteger(), nullable=False, comment='Model size of checkpoint a.'),
    sa.Column('model_b', sa.SmallInteger(), nullable=False, comment='Model size of checkpoint b.'),
    sa.Column('step_a', sa.Integer(), nullable=False, comment='Step of checkpoint a.'),
    sa.Column('step_b', sa.Integer(), nullable=False, comment='Step of checkpoint b.'),
    sa.ForeignKeyConstraint(['model_a'], ['model.model_id'], name=op.f('fk_comparison_group_model_a_model'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_b'], ['model.model_id'], name=op.f('fk_comparison_group_model_b_model'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', name=op.f('pk_comparison_group')),
    sa.UniqueConstraint('kind', 'model_a', 'model_b', 'step_a', 'step_b', name=op.f('uq_comparison_group_kind_model_a_model_b_step_a_step_b')),
    comment='The comparisons averaged together by the analyses: one kind, size pair and step pair (seed pairs of one size and step; consecutive steps t1 -> t2 of one size; cross sizes).'
    )
    op.create_table('final_surprisal',
    sa.Column('model_id', sa.SmallInteger(), nullable=False, comment='The model size.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('position_id', sa.Integer(), nullable=False, comment='The position.'),
    sa.Column('final_step', sa.Integer(), nullable=False, comment='Last step of the size with facts in the corpus.'),
    sa.Column('n_seeds', sa.BigInteger(), nullable=False, comment='Seeds with a row at final_step.'),
    sa.Column('final_ce', sa.Double(), nullable=False, comment='Mean CE over those seeds at final_step, nats.'),
    sa.Column('surprisal_bin_order', sa.Integer(), nullable=False, comment='0..4 for [0,1), [1,2), [2,4), [4,8), [8,inf).'),
    sa.Column('surprisal_bin', sa.Text(), nullable=False, comment="Bin label: '0-1', '1-2', '2-4', '4-8', '8+'."),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_final_surprisal_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_id'], ['model.model_id'], name=op.f('fk_final_surprisal_model_id_model'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_id', 'corpus_id', 'position_id', name=op.f('pk_final_surprisal')),
    comment="Each position's surprisal at the end of training per model size and corpus (see sql/030_compute_final_surprisal.sql)."
    )
    op.create_table('agg_conditional_kl',
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('family', sa.Text(), nullable=False, comment='Category family.'),
    sa.Column('category', sa.Text(), nullable=False, comment='Category within the family.'),
    sa.Column('category_order', sa.Integer(), nullable=True, comment='Sort key of bins; NULL for POS tags.'),
    sa.Column('n_comparisons', sa.BigInteger(), nullable=False, comment='Comparisons averaged.'),
    sa.Column('n_positions', sa.BigInteger(), nullable=False, comment='Positions of the category per comparison (max).'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment="Mean over comparisons of the category's mean KL."),
    sa.Column('sd_kl', sa.Double(), nullable=True, comment='Sample SD of the per-comparison means.'),
    sa.Column('mean_ce', sa.Double(), nullable=True, comment='Mean over comparisons of (CE a + CE b) / 2.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_conditional_kl_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_conditional_kl_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'corpus_id', 'family', 'category', name=op.f('pk_agg_conditional_kl')),
    comment="Per comparison group, corpus and category: E[KL | c] over the group's comparisons (read through the conditional_kl view)."
    )
    op.create_table('agg_context_variance',
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('n_comparisons', sa.Integer(), nullable=False, comment='Comparisons per position (the largest).'),
    sa.Column('n_positions', sa.BigInteger(), nullable=False, comment='Positions with at least one comparison.'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment='Mean across positions of E[KL](x), nats.'),
    sa.Column('sd_kl', sa.Double(), nullable=True, comment='Sample SD across positions of E[KL](x).'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_context_variance_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_context_variance_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'corpus_id', name=op.f('pk_agg_context_variance')),
    comment='Per comparison group and corpus: mean and SD across positions of E[KL](x) (read through the context_variance view).'
    )
    op.create_table('agg_position_kl',
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('position_id', sa.Integer(), nullable=False, comment='The position x.'),
    sa.Column('n_comparisons', sa.Integer(), nullable=False, comment='Comparisons with a row at x.'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment='E[KL](x), nats.'),
    sa.Column('m2_kl', sa.Double(), nullable=False, comment='Sum over those comparisons of (kl - mean_kl)^2.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_position_kl_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_position_kl_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'corpus_id', 'position_id', name=op.f('pk_agg_position_kl')),
    comment="Per comparison group and position: E[KL](x) over the group's comparisons (read through the position_kl view)."
    )
    op.create_table('agg_regression_cells',
    sa.Column('row_id', sa.BigInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('frequency', sa.BigInteger(), nullable=False, comment='Count of the predicted token in the frequency source.'),
    sa.Column('pos_t', sa.Text(), nullable=True, comment='POS(t) of the cell.'),
    sa.Column('pos_prev', sa.Text(), nullable=True, comment='POS(t-1) of the cell.'),
    sa.Column('n', sa.BigInteger(), nullable=False, comment='(comparison, position) rows in the cell.'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment='Mean KL of those rows, nats.'),
    sa.Column('ss_within', sa.Double(), nullable=False, comment='Sum over the rows of (kl - mean_kl)^2.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_regression_cells_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_regression_cells_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('row_id', name=op.f('pk_agg_regression_cells')),
    comment='Per comparison group and cell of identical regressors (frequency, POS(t), POS(t-1)): n, mean and within-cell sum of squares of KL (read through the regression_cells view).'
    )
    op.create_index('ix_agg_regression_cells_group', 'agg_regression_cells', ['group_id', 'corpus_id'], unique=False)
    op.create_table('agg_regression_moments',
    sa.Column('row_id', sa.BigInteger(), sa.Identity(always=False), nullable=False, comment='Surrogate key.'),
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('pos_t', sa.Text(), nullable=True, comment='POS(t) of the cell.'),
    sa.Column('pos_prev', sa.Text(), nullable=True, comment='POS(t-1) of the cell.'),
    sa.Column('n', sa.BigInteger(), nullable=False, comment='(comparison, position) rows with a log frequency.'),
    sa.Column('sum_lf', sa.Double(), nullable=False, comment='Sum of ln(frequency).'),
    sa.Column('sum_lf2', sa.Double(), nullable=False, comment='Sum of ln(frequency)^2.'),
    sa.Column('sum_kl', sa.Double(), nullable=False, comment='Sum of kl.'),
    sa.Column('sum_kl2', sa.Double(), nullable=False, comment='Sum of kl^2.'),
    sa.Column('sum_lf_kl', sa.Double(), nullable=False, comment='Sum of ln(frequency) * kl.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_regression_moments_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_regression_moments_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('row_id', name=op.f('pk_agg_regression_moments')),
    comment='Per comparison group, POS(t) and POS(t-1): sufficient statistics of the regression (read through the regression_moments view).'
    )
    op.create_index('ix_agg_regression_moments_group', 'agg_regression_moments', ['group_id', 'corpus_id'], unique=False)
    op.create_table('agg_token_kl',
    sa.Column('group_id', sa.Integer(), nullable=False, comment='The comparison group.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('token_id', sa.Integer(), nullable=False, comment='Predicted token w(x+1).'),
    sa.Column('occurrences', sa.BigInteger(), nullable=False, comment='Positions that predict the token.'),
    sa.Column('n_comparisons', sa.Integer(), nullable=False, comment='Comparisons per position (the largest).'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment='Mean over all (comparison, position) rows, nats.'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_agg_token_kl_corpus_id_corpus'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['comparison_group.group_id'], name=op.f('fk_agg_token_kl_group_id_comparison_group'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'corpus_id', 'token_id', name=op.f('pk_agg_token_kl')),
    comment="Per comparison group, corpus and predicted token: pooled mean KL (token_divergence's KL side)."
    )
    op.create_table('checkpoint_stats',
    sa.Column('checkpoint_id', sa.Integer(), nullable=False, comment='The checkpoint.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('family', sa.Text(), nullable=False, comment="Category family ('all', 'pos_t', ...)."),
    sa.Column('category', sa.Text(), nullable=False, comment='Category within the family.'),
    sa.Column('category_order', sa.Integer(), nullable=True, comment='Sort key of bins; NULL for POS tags.'),
    sa.Column('n_positions', sa.BigInteger(), nullable=False, comment='Positions of the checkpoint in the category.'),
    sa.Column('mean_ce', sa.Double(), nullable=False, comment='Mean CE over those positions, nats.'),
    sa.Column('mean_entropy', sa.Double(), nullable=False, comment='Mean entropy, nats.'),
    sa.Column('mean_kl_uniform', sa.Double(), nullable=False, comment='Mean KL to uniform, nats.'),
    sa.Column('mean_kl_unigram', sa.Double(), nullable=False, comment='Mean KL to the unigram, nats.'),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['checkpoint.checkpoint_id'], name=op.f('fk_checkpoint_stats_checkpoint_id_checkpoint'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_checkpoint_stats_corpus_id_corpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('checkpoint_id', 'corpus_id', 'family', 'category', name=op.f('pk_checkpoint_stats')),
    comment='Per checkpoint, corpus and category: means of the per-token statistics (see sql/031_compute_checkpoint_stats.sql and docs/sql.md).'
    )
    op.create_table('comparison_stats',
    sa.Column('comparison_id', sa.Integer(), nullable=False, comment='The comparison.'),
    sa.Column('corpus_id', sa.SmallInteger(), nullable=False, comment='The corpus.'),
    sa.Column('family', sa.Text(), nullable=False, comment="Category family ('all', 'pos_t', ...)."),
    sa.Column('category', sa.Text(), nullable=False, comment='Category within the family.'),
    sa.Column('category_order', sa.Integer(), nullable=True, comment='Sort key of bins; NULL for POS tags.'),
    sa.Column('n_positions', sa.BigInteger(), nullable=False, comment='Positions of the comparison in the category.'),
    sa.Column('mean_kl', sa.Double(), nullable=False, comment='Mean of (KL(p_a||p_b) + KL(p_b||p_a)) / 2, nats.'),
    sa.ForeignKeyConstraint(['comparison_id'], ['comparison.comparison_id'], name=op.f('fk_comparison_stats_comparison_id_comparison'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['corpus_id'], ['corpus.corpus_id'], name=op.f('fk_comparison_stats_corpus_id_corpus'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('comparison_id', 'corpus_id', 'family', 'category', name=op.f('pk_comparison_stats')),
    comment='Per comparison, corpus and category: mean symmetrised KL over the positions (see sql/032_compute_comparison_stats.sql and docs/sql.md).'
    )
    op.alter_column('checkpoint_token', 'checkpoint_id',
               existing_type=sa.INTEGER(),
               comment='The checkpoint (checkpoint.checkpoint_id).',
               existing_comment='The checkpoint.',
               existing_nullable=False)
    op.alter_column('checkpoint_token', 'position_id',
               existing_type=sa.INTEGER(),
               comment='The position (position.position_id).',
               existing_comment='The position.',
               existing_nullable=False)
    op.drop_constraint(op.f('fk_checkpoint_token_checkpoint_id_checkpoint'), 'checkpoint_token', type_='foreignkey')
    op.drop_constraint(op.f('fk_checkpoint_token_position_id_position'), 'checkpoint_token', type_='foreignkey')
    op.alter_column('pair_token', 'comparison_id',
               existing_type=sa.INTEGER(),
               comment='The comparison (comparison.comparison_id).',
               existing_comment='The comparison.',
               existing_nullable=False)
    op.alter_column('pair_token', 'position_id',
               existing_type=sa.INTEGER(),
               comment='The position (position.position_id).',
               existing_comment='The position.',
               existing_nullable=False)
    op.drop_constraint(op.f('fk_pair_token_position_id_position'), 'pair_token', type_='foreignkey')
    op.drop_constraint(op.f('fk_pair_token_comparison_id_comparison'), 'pair_token', type_='foreignkey')
    for name in OBJECTS:
        sqlfiles.create(connection, name, as_of=revision)
    # backfill from the facts already in the warehouse
    connection.exec_driver_sql("SELECT rebuild_aggregates()")
    connection.exec_driver_sql("ANALYZE")


def downgrade() -> None:
    connection = op.get_bind()
    for name in reversed(OBJECTS):
        sqlfiles.drop(connection, name)
    # facts whose dimension rows are gone would break the foreign keys 0002 had (they cascaded deletes)
    connection.exec_driver_sql(
        "DELETE FROM checkpoint_token ct WHERE NOT EXISTS (SELECT 1 FROM checkpoint c WHERE c.checkpoint_id = "
        "ct.checkpoint_id) OR NOT EXISTS (SELECT 1 FROM position p WHERE p.position_id = ct.position_id)"
    )
    connection.exec_driver_sql(
        "DELETE FROM pair_token pt WHERE NOT EXISTS (SELECT 1 FROM comparison c WHERE c.comparison_id = "
        "pt.comparison_id) OR NOT EXISTS (SELECT 1 FROM position p WHERE p.position_id = pt.position_id)"
    )
    op.create_foreign_key(op.f('fk_pair_token_comparison_id_comparison'), 'pair_token', 'comparison', ['comparison_id'], ['comparison_id'], ondelete='CASCADE')
    op.create_foreign_key(op.f('fk_pair_token_position_id_position'), 'pair_token', 'position', ['position_id'], ['position_id'], ondelete='CASCADE')
    op.alter_column('pair_token', 'position_id',
               existing_type=sa.INTEGER(),
               comment='The position.',
               existing_comment='The position (position.position_id).',
               existing_nullable=False)
    op.alter_column('pair_token', 'comparison_id',
               existing_type=sa.INTEGER(),
               comment='The comparison.',
               existing_comment='The comparison (comparison.comparison_id).',
               existing_nullable=False)
    op.create_foreign_key(op.f('fk_checkpoint_token_position_id_position'), 'checkpoint_token', 'position', ['position_id'], ['position_id'], ondelete='CASCADE')
    op.create_foreign_key(op.f('fk_checkpoint_token_checkpoint_id_checkpoint'), 'checkpoint_token', 'checkpoint', ['checkpoint_id'], ['checkpoint_id'], ondelete='CASCADE')
    op.alter_column('checkpoint_token', 'position_id',
               existing_type=sa.INTEGER(),
               comment='The position.',
               existing_comment='The position (position.position_id).',
               existing_nullable=False)
    op.alter_column('checkpoint_token', 'checkpoint_id',
               existing_type=sa.INTEGER(),
               comment='The checkpoint.',
               existing_comment='The checkpoint (checkpoint.checkpoint_id).',
               existing_nullable=False)
    op.drop_table('comparison_stats')
    op.drop_table('checkpoint_stats')
    op.drop_table('agg_token_kl')
    op.drop_index('ix_agg_regression_moments_group', table_name='agg_regression_moments')
    op.drop_table('agg_regression_moments')
    op.drop_index('ix_agg_regression_cells_group', table_name='agg_regression_cells')
    op.drop_table('agg_regression_cells')
    op.drop_table('agg_position_kl')
    op.drop_table('agg_context_variance')
    op.drop_table('agg_conditional_kl')
    op.drop_table('final_surprisal')
    op.drop_table('comparison_group')
    op.drop_table('agg_token_ce')
    for name in OBJECTS_0002:
        sqlfiles.create(connection, name, as_of="0002")

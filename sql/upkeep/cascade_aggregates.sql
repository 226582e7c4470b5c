-- cascade_aggregates(): the trigger that deletes the aggregate rows of deleted corpora, models, checkpoints,
-- comparisons and comparison groups.
--
-- The aggregate tables have no foreign keys since migration 0020 (a per-row key check on each of a unit's ~50k
-- aggregate rows was more than half of its aggregate upkeep; the rows are written only by the aggregate functions,
-- from joins over the dimension rows they point at). What the keys' ON DELETE CASCADE did is done here: migration
-- 0020 attaches this function to corpus, model, checkpoint, comparison and comparison_group as a statement-level
-- AFTER DELETE trigger (cascade_aggregates) whose transition table of deleted rows is called gone; per statement,
-- one set-wise DELETE per aggregate table keyed by the parent. Numbered 000: it reads tables only, never a view or
-- function of sql/, so replacing any other object never drops it (its triggers depend on it).
CREATE OR REPLACE FUNCTION cascade_aggregates()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_TABLE_NAME = 'corpus' THEN
        DELETE FROM final_surprisal AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM checkpoint_stats AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM comparison_stats AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_comparison_moments AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_token_ce AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_position_kl AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_context_variance AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_token_kl AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_regression_cells AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_regression_moments AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
        DELETE FROM agg_conditional_kl AS a USING gone AS g WHERE a.corpus_id = g.corpus_id;
    ELSIF TG_TABLE_NAME = 'model' THEN
        DELETE FROM final_surprisal AS a USING gone AS g WHERE a.model_id = g.model_id;
        DELETE FROM agg_token_ce AS a USING gone AS g WHERE a.model_id = g.model_id;
    ELSIF TG_TABLE_NAME = 'checkpoint' THEN
        DELETE FROM checkpoint_stats AS a USING gone AS g WHERE a.checkpoint_id = g.checkpoint_id;
    ELSIF TG_TABLE_NAME = 'comparison' THEN
        DELETE FROM comparison_stats AS a USING gone AS g WHERE a.comparison_id = g.comparison_id;
        DELETE FROM agg_comparison_moments AS a USING gone AS g WHERE a.comparison_id = g.comparison_id;
    ELSIF TG_TABLE_NAME = 'comparison_group' THEN
        DELETE FROM agg_position_kl AS a USING gone AS g WHERE a.group_id = g.group_id;
        DELETE FROM agg_context_variance AS a USING gone AS g WHERE a.group_id = g.group_id;
        DELETE FROM agg_token_kl AS a USING gone AS g WHERE a.group_id = g.group_id;
        DELETE FROM agg_regression_cells AS a USING gone AS g WHERE a.group_id = g.group_id;
        DELETE FROM agg_regression_moments AS a USING gone AS g WHERE a.group_id = g.group_id;
        DELETE FROM agg_conditional_kl AS a USING gone AS g WHERE a.group_id = g.group_id;
    END IF;
    RETURN NULL;
END
$$;

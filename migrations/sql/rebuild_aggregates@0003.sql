-- rebuild_aggregates(corpus_id): recompute every aggregate of one corpus (NULL: of every corpus) from the facts.
--
-- For bulk loads that bypass the ingest (synthetic warehouses of tests and benches) and for migration 0003's
-- backfill; the ingest never calls it (each unit maintains its own rows: maintain_aggregates). Its cost is the
-- whole corpus's facts; it locks every size and group like maintain_aggregates, so concurrent publishes wait.
CREATE OR REPLACE FUNCTION rebuild_aggregates(p_corpus_id int DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_corpus int;
    v_models int[];
    v_checkpoints int[];
    v_comparisons int[];
    v_groups int[];
    v_id int;
BEGIN
    INSERT INTO comparison_group (kind, model_a, model_b, step_a, step_b)
    SELECT DISTINCT ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b FROM comparison_info AS ci
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT DO NOTHING;
    SELECT coalesce(array_agg(m.model_id ORDER BY m.model_id), '{}') INTO v_models FROM model AS m;
    SELECT coalesce(array_agg(c.checkpoint_id ORDER BY c.checkpoint_id), '{}') INTO v_checkpoints FROM checkpoint AS c;
    SELECT coalesce(array_agg(c.comparison_id ORDER BY c.comparison_id), '{}') INTO v_comparisons FROM comparison AS c;
    SELECT coalesce(array_agg(g.group_id ORDER BY g.group_id), '{}') INTO v_groups FROM comparison_group AS g;
    FOREACH v_id IN ARRAY v_models LOOP
        PERFORM pg_advisory_xact_lock(1128552242, v_id);
    END LOOP;
    FOREACH v_id IN ARRAY v_groups LOOP
        PERFORM pg_advisory_xact_lock(1128552243, v_id);
    END LOOP;

    FOR v_corpus IN SELECT co.corpus_id FROM corpus AS co WHERE p_corpus_id IS NULL OR co.corpus_id = p_corpus_id
                    ORDER BY 1
    LOOP
        DELETE FROM final_surprisal AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM checkpoint_stats AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM comparison_stats AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_token_ce AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_position_kl AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_context_variance AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_token_kl AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_regression_cells AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_regression_moments AS a WHERE a.corpus_id = v_corpus;
        DELETE FROM agg_conditional_kl AS a WHERE a.corpus_id = v_corpus;

        INSERT INTO final_surprisal SELECT * FROM compute_final_surprisal(v_models, v_corpus);
        INSERT INTO checkpoint_stats SELECT * FROM compute_checkpoint_stats(v_checkpoints, v_corpus);
        INSERT INTO agg_token_ce SELECT * FROM compute_token_ce(v_checkpoints, v_corpus);
        INSERT INTO comparison_stats SELECT * FROM compute_comparison_stats(v_comparisons, v_corpus);
        INSERT INTO agg_position_kl SELECT * FROM compute_position_kl(v_groups, v_corpus);
        INSERT INTO agg_context_variance SELECT * FROM compute_context_variance(v_groups, v_corpus);
        INSERT INTO agg_token_kl SELECT * FROM compute_token_kl(v_groups, v_corpus);
        INSERT INTO agg_regression_cells (group_id, corpus_id, frequency, pos_t, pos_prev, n, mean_kl, ss_within)
        SELECT * FROM compute_regression_cells(v_groups, v_corpus);
        INSERT INTO agg_regression_moments (group_id, corpus_id, pos_t, pos_prev, n, sum_lf, sum_lf2, sum_kl,
                                            sum_kl2, sum_lf_kl)
        SELECT * FROM compute_regression_moments(v_groups, v_corpus);
        INSERT INTO agg_conditional_kl SELECT * FROM compute_conditional_kl(v_groups, v_corpus);
    END LOOP;
END
$$;

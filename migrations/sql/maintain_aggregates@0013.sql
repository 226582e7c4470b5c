-- maintain_aggregates(corpus_id, checkpoint_ids, writes_checkpoints, kinds): bring every aggregate up to date
-- after one ingest unit replaced its facts on one corpus, inside the unit's publish transaction (so readers see a
-- unit's facts and aggregates together or not at all, and never wait: no REFRESH, no table lock).
--
-- Arguments: the unit's checkpoints; writes_checkpoints = whether it wrote their checkpoint_token rows (false for
-- cross-size units, which write pair rows only); kinds = the comparison kinds it owns (comparisons of those kinds
-- whose checkpoint b is among its checkpoints). What it recomputes, each from the facts through their primary keys
-- (cost = the unit's rows, not the warehouse's):
--   final_surprisal       of the written sizes, when their last ingested step moved or was rewritten; then the
--                         surprisal_bin rows of every checkpoint and comparison of those sizes (once per size when
--                         the last step is ingested first: the ingest plans each size's last step first)
--   checkpoint_stats, agg_token_ce            of the written checkpoints (token CE: of their size and step)
--   comparison_stats, agg_comparison_moments  of the owned comparisons
--   agg_position_kl and what derives from it  of the groups of the owned comparisons (context variance, token KL,
--                                             regression cells and moments)
--   agg_conditional_kl    of every group with a comparison whose stats or checkpoints' stats changed
-- Plans: the ids select rows as index conditions of the scans (compute_*), and the publish refreshes the planner
-- statistics of any table that grew past twice its analysed size before it starts (ledger.publish_unit): plans made
-- for "empty" tables (a fresh warehouse is analysed empty) cost a demo unit 47 s instead of about 1 s.
-- Concurrency: a transaction-level advisory lock per written size (class 0x43445632) and per recomputed group
-- (class 0x43445633), taken in that order and ascending, serialises the few publishes that share them; a unit's
-- own rows are owned by it alone (the ledger's unit lock).
CREATE OR REPLACE FUNCTION maintain_aggregates(
    p_corpus_id int, p_checkpoint_ids int[], p_writes_checkpoints boolean, p_kinds text[]
)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_written int[] := CASE WHEN p_writes_checkpoints THEN coalesce(p_checkpoint_ids, '{}') ELSE '{}' END;
    v_owned int[];
    v_changed int[] := '{}';
    v_model int;
    v_old int;
    v_new int;
    v_others int[] := '{}';
    v_other_comparisons int[] := '{}';
    v_kl_groups int[];
    v_ce_groups int[];
    v_group int;
BEGIN
    SELECT coalesce(array_agg(c.comparison_id ORDER BY c.comparison_id), '{}') INTO v_owned
    FROM comparison AS c
    WHERE c.kind = ANY (p_kinds) AND c.checkpoint_b = ANY (coalesce(p_checkpoint_ids, '{}'));

    INSERT INTO comparison_group (kind, model_a, model_b, step_a, step_b)
    SELECT DISTINCT ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b
    FROM comparison_info AS ci
    WHERE ci.comparison_id = ANY (v_owned) OR ci.checkpoint_a = ANY (v_written) OR ci.checkpoint_b = ANY (v_written)
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT DO NOTHING;

    -- final surprisal of the written sizes
    FOR v_model IN
        SELECT DISTINCT ci.model_id FROM checkpoint_info AS ci WHERE ci.checkpoint_id = ANY (v_written) ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(1128552242, v_model);
        SELECT max(fs.final_step) INTO v_old
        FROM final_surprisal AS fs WHERE fs.model_id = v_model AND fs.corpus_id = p_corpus_id;
        SELECT max(ci.step) INTO v_new
        FROM checkpoint_info AS ci
        WHERE ci.model_id = v_model AND EXISTS (
            SELECT 1 FROM checkpoint_token AS ct JOIN position AS p ON p.position_id = ct.position_id
            WHERE ct.checkpoint_id = ci.checkpoint_id AND p.corpus_id = p_corpus_id
        );
        IF v_old IS DISTINCT FROM v_new OR EXISTS (
            SELECT 1 FROM checkpoint_info AS ci
            WHERE ci.checkpoint_id = ANY (v_written) AND ci.model_id = v_model AND ci.step = v_new
        ) THEN
            DELETE FROM final_surprisal AS fs WHERE fs.model_id = v_model AND fs.corpus_id = p_corpus_id;
            INSERT INTO final_surprisal SELECT * FROM compute_final_surprisal(ARRAY[v_model], p_corpus_id);
            v_changed := v_changed || v_model;
        END IF;
    END LOOP;

    -- per checkpoint and per comparison
    DELETE FROM checkpoint_stats AS s WHERE s.checkpoint_id = ANY (v_written) AND s.corpus_id = p_corpus_id;
    INSERT INTO checkpoint_stats SELECT * FROM compute_checkpoint_stats(v_written, p_corpus_id);
    DELETE FROM agg_token_ce AS t
    USING (SELECT DISTINCT ci.model_id, ci.step FROM checkpoint_info AS ci WHERE ci.checkpoint_id = ANY (v_written)) AS ss
    WHERE t.model_id = ss.model_id AND t.step = ss.step AND t.corpus_id = p_corpus_id;
    INSERT INTO agg_token_ce SELECT * FROM compute_token_ce(v_written, p_corpus_id);
    DELETE FROM comparison_stats AS s WHERE s.comparison_id = ANY (v_owned) AND s.corpus_id = p_corpus_id;
    INSERT INTO comparison_stats SELECT * FROM compute_comparison_stats(v_owned, p_corpus_id);
    DELETE FROM agg_comparison_moments AS s WHERE s.comparison_id = ANY (v_owned) AND s.corpus_id = p_corpus_id;
    INSERT INTO agg_comparison_moments (comparison_id, corpus_id, pos_t, pos_prev, n, sum_lf, sum_lf2, sum_kl, sum_kl2,
                                        sum_lf_kl)
    SELECT * FROM compute_comparison_moments(v_owned, p_corpus_id);

    IF cardinality(v_changed) > 0 THEN
        -- a size's last step moved: every checkpoint and comparison of the size gets its surprisal bins again
        SELECT coalesce(array_agg(ci.checkpoint_id), '{}') INTO v_others
        FROM checkpoint_info AS ci WHERE ci.model_id = ANY (v_changed) AND NOT ci.checkpoint_id = ANY (v_written);
        DELETE FROM checkpoint_stats AS s
        WHERE s.checkpoint_id = ANY (v_others) AND s.corpus_id = p_corpus_id AND s.family = 'surprisal_bin';
        INSERT INTO checkpoint_stats
        SELECT * FROM compute_checkpoint_stats(v_others, p_corpus_id) AS x WHERE x.family = 'surprisal_bin';
        SELECT coalesce(array_agg(ci.comparison_id), '{}') INTO v_other_comparisons
        FROM comparison_info AS ci
        WHERE ci.kind <> 'cross_size' AND ci.model_a = ANY (v_changed) AND NOT ci.comparison_id = ANY (v_owned);
        DELETE FROM comparison_stats AS s
        WHERE s.comparison_id = ANY (v_other_comparisons) AND s.corpus_id = p_corpus_id AND s.family = 'surprisal_bin';
        INSERT INTO comparison_stats
        SELECT * FROM compute_comparison_stats(v_other_comparisons, p_corpus_id) AS x WHERE x.family = 'surprisal_bin';
    END IF;

    -- per comparison group
    SELECT coalesce(array_agg(DISTINCT gm.group_id), '{}') INTO v_kl_groups
    FROM comparison_group_member AS gm WHERE gm.comparison_id = ANY (v_owned);
    SELECT coalesce(array_agg(DISTINCT gm.group_id), '{}') INTO v_ce_groups
    FROM comparison_group_member AS gm
    WHERE gm.comparison_id = ANY (v_owned) OR gm.comparison_id = ANY (v_other_comparisons)
       OR gm.checkpoint_a = ANY (v_written) OR gm.checkpoint_b = ANY (v_written);
    FOR v_group IN SELECT DISTINCT u.g FROM unnest(v_ce_groups || v_kl_groups) AS u(g) ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(1128552243, v_group);
    END LOOP;

    DELETE FROM agg_position_kl AS a WHERE a.group_id = ANY (v_kl_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_position_kl SELECT * FROM compute_position_kl(v_kl_groups, p_corpus_id);
    DELETE FROM agg_context_variance AS a WHERE a.group_id = ANY (v_kl_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_context_variance SELECT * FROM compute_context_variance(v_kl_groups, p_corpus_id);
    DELETE FROM agg_token_kl AS a WHERE a.group_id = ANY (v_kl_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_token_kl SELECT * FROM compute_token_kl(v_kl_groups, p_corpus_id);
    DELETE FROM agg_regression_cells AS a WHERE a.group_id = ANY (v_kl_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_regression_cells (group_id, corpus_id, frequency, pos_t, pos_prev, n, mean_kl, ss_within)
    SELECT * FROM compute_regression_cells(v_kl_groups, p_corpus_id);
    DELETE FROM agg_regression_moments AS a WHERE a.group_id = ANY (v_kl_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_regression_moments (group_id, corpus_id, pos_t, pos_prev, n, sum_lf, sum_lf2, sum_kl, sum_kl2,
                                        sum_lf_kl)
    SELECT * FROM compute_regression_moments(v_kl_groups, p_corpus_id);
    DELETE FROM agg_conditional_kl AS a WHERE a.group_id = ANY (v_ce_groups) AND a.corpus_id = p_corpus_id;
    INSERT INTO agg_conditional_kl SELECT * FROM compute_conditional_kl(v_ce_groups, p_corpus_id);
END
$$;

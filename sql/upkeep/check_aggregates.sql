-- check_aggregates(corpus_id): recompute every maintained aggregate of one corpus (NULL: every corpus) from its
-- inputs and compare with what is stored; one row per aggregate and corpus. `convdiv db check` reports it.
--
-- Columns:
--   aggregate    the table (final_surprisal, checkpoint_stats, ..., agg_conditional_kl; 'comparison_group' counts
--                comparisons with facts on the corpus that belong to no group, which no aggregate would see)
--   corpus_id
--   stored, expected     rows stored / rows a recomputation gives
--   missing, extra       rows only in the recomputation / only in the table
--   differing            rows in both whose values differ by more than 1e-9 relative (plus 1e-15 absolute:
--                        summation order may move the last bits)
-- Each level is checked against its inputs: per-checkpoint and per-comparison rows and agg_position_kl against the
-- facts, the other group aggregates against agg_position_kl / the stats tables. Reads every fact once: its cost is
-- the warehouse's (it is a check, not part of the ingest).
CREATE OR REPLACE FUNCTION check_aggregates(p_corpus_id int DEFAULT NULL)
RETURNS TABLE (
    aggregate text, corpus_id int, stored bigint, expected bigint, missing bigint, extra bigint, differing bigint
)
LANGUAGE plpgsql
AS $$
DECLARE
    v_corpus int;
    v_ids jsonb;
    spec record;
    v_on text;
    v_diff text;
BEGIN
    SELECT jsonb_build_object(
        'models', (SELECT coalesce(jsonb_agg(m.model_id), '[]') FROM model AS m),
        'checkpoints', (SELECT coalesce(jsonb_agg(c.checkpoint_id), '[]') FROM checkpoint AS c),
        'comparisons', (SELECT coalesce(jsonb_agg(c.comparison_id), '[]') FROM comparison AS c),
        'groups', (SELECT coalesce(jsonb_agg(g.group_id), '[]') FROM comparison_group AS g)
    ) INTO v_ids;
    FOR v_corpus IN SELECT co.corpus_id FROM corpus AS co WHERE p_corpus_id IS NULL OR co.corpus_id = p_corpus_id
                    ORDER BY 1
    LOOP
        FOR spec IN
            SELECT * FROM (VALUES
                ('final_surprisal', 'compute_final_surprisal', 'models', ARRAY['model_id', 'position_id'],
                 ARRAY['final_step', 'n_seeds', 'final_ce', 'surprisal_bin_order']),
                ('checkpoint_stats', 'compute_checkpoint_stats', 'checkpoints',
                 ARRAY['checkpoint_id', 'family', 'category'],
                 ARRAY['category_order', 'n_positions', 'mean_ce', 'mean_entropy', 'mean_kl_uniform',
                       'mean_kl_unigram']),
                ('agg_token_ce', 'compute_token_ce', 'checkpoints', ARRAY['model_id', 'step', 'token_id'],
                 ARRAY['n', 'mean_ce']),
                ('comparison_stats', 'compute_comparison_stats', 'comparisons',
                 ARRAY['comparison_id', 'family', 'category'], ARRAY['category_order', 'n_positions', 'mean_kl']),
                ('agg_comparison_moments', 'compute_comparison_moments', 'comparisons',
                 ARRAY['comparison_id', 'pos_t', 'pos_prev'],
                 ARRAY['n', 'sum_lf', 'sum_lf2', 'sum_kl', 'sum_kl2', 'sum_lf_kl']),
                ('agg_position_kl', 'compute_position_kl', 'groups', ARRAY['group_id', 'position_id'],
                 ARRAY['n_comparisons', 'mean_kl', 'm2_kl']),
                ('agg_context_variance', 'compute_context_variance', 'groups', ARRAY['group_id'],
                 ARRAY['n_comparisons', 'n_positions', 'mean_kl', 'sd_kl']),
                ('agg_token_kl', 'compute_token_kl', 'groups', ARRAY['group_id', 'token_id'],
                 ARRAY['occurrences', 'n_comparisons', 'mean_kl']),
                ('agg_regression_cells', 'compute_regression_cells', 'groups',
                 ARRAY['group_id', 'frequency', 'pos_t', 'pos_prev'], ARRAY['n', 'mean_kl', 'ss_within']),
                ('agg_regression_moments', 'compute_regression_moments', 'groups',
                 ARRAY['group_id', 'pos_t', 'pos_prev'],
                 ARRAY['n', 'sum_lf', 'sum_lf2', 'sum_kl', 'sum_kl2', 'sum_lf_kl']),
                ('agg_conditional_kl', 'compute_conditional_kl', 'groups', ARRAY['group_id', 'family', 'category'],
                 ARRAY['category_order', 'n_comparisons', 'n_positions', 'mean_kl', 'sd_kl', 'mean_ce'])
            ) AS t(tbl, fn, ids, keys, vals)
        LOOP
            -- keys may be NULL (tags): compare them as text with a NULL marker, which a FULL JOIN can hash
            SELECT string_agg(format('coalesce(s.%1$I::text, %2$L) = coalesce(e.%1$I::text, %2$L)', k, E'\x01'),
                              ' AND ')
            INTO v_on FROM unnest(spec.keys) AS k;
            SELECT string_agg(format('NOT ((s.%1$I IS NULL AND e.%1$I IS NULL) OR abs(s.%1$I::float8 - e.%1$I::float8)'
                                     ' <= 1e-9 * greatest(abs(s.%1$I::float8), abs(e.%1$I::float8)) + 1e-15)', v),
                              ' OR ')
            INTO v_diff FROM unnest(spec.vals) AS v;
            RETURN QUERY EXECUTE format(
                'WITH s AS (SELECT * FROM %1$I AS t WHERE t.corpus_id = $2), '
                '     e AS (SELECT * FROM %2$I(ARRAY(SELECT jsonb_array_elements_text($1)::int), $2)) '
                'SELECT %3$L::text, $2, (SELECT count(*) FROM s), (SELECT count(*) FROM e), '
                '       count(*) FILTER (WHERE s.corpus_id IS NULL), count(*) FILTER (WHERE e.corpus_id IS NULL), '
                '       count(*) FILTER (WHERE s.corpus_id IS NOT NULL AND e.corpus_id IS NOT NULL AND (%5$s)) '
                'FROM s FULL JOIN e ON %4$s',
                spec.tbl, spec.fn, spec.tbl, v_on, v_diff)
            USING v_ids -> spec.ids, v_corpus;
        END LOOP;
        RETURN QUERY
        SELECT 'comparison_group'::text, v_corpus, 0::bigint, 0::bigint, count(*), 0::bigint, 0::bigint
        FROM comparison AS c
        WHERE NOT EXISTS (SELECT 1 FROM comparison_group_member AS gm WHERE gm.comparison_id = c.comparison_id)
          AND EXISTS (SELECT 1 FROM pair_token AS pt JOIN position AS p ON p.position_id = pt.position_id
                      WHERE pt.comparison_id = c.comparison_id AND p.corpus_id = v_corpus);
    END LOOP;
END
$$;

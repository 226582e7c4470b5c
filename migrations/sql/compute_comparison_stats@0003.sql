-- compute_comparison_stats(comparison_ids, corpus_id): per comparison and corpus, the mean KL over all positions
-- (family 'all') and over the positions of every category of every family, computed from the facts; the
-- maintenance functions store it in the table comparison_stats (same columns).
--
-- Serves: expected_kl (family 'all'), conditional_kl, relative_divergence, ce_difference: the per-comparison mean
-- over positions that those views then average over comparisons.
-- Columns (as table comparison_stats):
--   comparison_id, corpus_id
--   family, category, category_order   as in compute_checkpoint_stats
--   n_positions      positions of the comparison in the category
--   mean_kl          mean over those positions of (KL(p_a || p_b) + KL(p_b || p_a)) / 2, nats
-- The surprisal bin of a position is that of checkpoint a's model size (final_surprisal); cross_size comparisons
-- (two sizes) get no surprisal_bin rows. One pass over the comparisons' rows with GROUPING SETS.
CREATE OR REPLACE FUNCTION compute_comparison_stats(p_comparison_ids int[], p_corpus_id int)
RETURNS TABLE (
    comparison_id int, corpus_id smallint, family text, category text, category_order int, n_positions bigint,
    mean_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT comparison_id, corpus_id::smallint, family, category, category_order, n_positions, mean_kl
FROM (
    SELECT
        pt.comparison_id,
        pf.corpus_id,
        CASE
            WHEN grouping(pf.pos_t) = 0 THEN 'pos_t'
            WHEN grouping(pf.pos_prev) = 0 THEN 'pos_prev'
            WHEN grouping(pf.group_t) = 0 THEN 'group_t'
            WHEN grouping(pf.group_prev) = 0 THEN 'group_prev'
            WHEN grouping(pf.frequency_bin) = 0 THEN 'frequency_bin'
            WHEN grouping(fs.surprisal_bin) = 0 THEN 'surprisal_bin'
            WHEN grouping(pf.begin_of_word) = 0 THEN 'begin_of_word'
            WHEN grouping(pf.end_of_word) = 0 THEN 'end_of_word'
            ELSE 'all'
        END AS family,
        CASE
            WHEN grouping(pf.pos_t) = 0 THEN pf.pos_t
            WHEN grouping(pf.pos_prev) = 0 THEN pf.pos_prev
            WHEN grouping(pf.group_t) = 0 THEN pf.group_t
            WHEN grouping(pf.group_prev) = 0 THEN pf.group_prev
            WHEN grouping(pf.frequency_bin) = 0 THEN pf.frequency_bin
            WHEN grouping(fs.surprisal_bin) = 0 THEN fs.surprisal_bin
            WHEN grouping(pf.begin_of_word) = 0 THEN pf.begin_of_word::text
            WHEN grouping(pf.end_of_word) = 0 THEN pf.end_of_word::text
            ELSE 'all'
        END AS category,
        CASE
            WHEN grouping(pf.frequency_bin) = 0 THEN pf.frequency_bin_order
            WHEN grouping(fs.surprisal_bin) = 0 THEN fs.surprisal_bin_order
            WHEN grouping(pf.begin_of_word) = 0 THEN pf.begin_of_word::int
            WHEN grouping(pf.end_of_word) = 0 THEN pf.end_of_word::int
        END AS category_order,
        count(*) AS n_positions,
        avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) AS mean_kl
    FROM unnest(p_comparison_ids) AS sel(comparison_id)
    JOIN pair_token AS pt ON pt.comparison_id = sel.comparison_id
    JOIN position_features AS pf ON pf.position_id = pt.position_id
    JOIN comparison AS cmp ON cmp.comparison_id = pt.comparison_id
    JOIN checkpoint AS c ON c.checkpoint_id = cmp.checkpoint_a
    JOIN run AS r ON r.run_id = c.run_id
    LEFT JOIN final_surprisal AS fs
        ON cmp.kind <> 'cross_size'
        AND fs.model_id = r.model_id AND fs.corpus_id = pf.corpus_id AND fs.position_id = pt.position_id
    WHERE pf.corpus_id = p_corpus_id
    GROUP BY GROUPING SETS (
        (pt.comparison_id, pf.corpus_id),
        (pt.comparison_id, pf.corpus_id, pf.pos_t),
        (pt.comparison_id, pf.corpus_id, pf.pos_prev),
        (pt.comparison_id, pf.corpus_id, pf.group_t),
        (pt.comparison_id, pf.corpus_id, pf.group_prev),
        (pt.comparison_id, pf.corpus_id, pf.frequency_bin, pf.frequency_bin_order),
        (pt.comparison_id, pf.corpus_id, fs.surprisal_bin, fs.surprisal_bin_order),
        (pt.comparison_id, pf.corpus_id, pf.begin_of_word),
        (pt.comparison_id, pf.corpus_id, pf.end_of_word)
    )
) AS g
-- a NULL tag (or a position without a final surprisal) is no category
WHERE category IS NOT NULL
$$;

-- compute_position_kl(group_ids, corpus_id): the per-position expected KL of each comparison group, E[KL](x),
-- computed from the facts of the group's comparisons; stored in agg_position_kl (read through position_kl).
--
-- Columns (as table agg_position_kl):
--   group_id, corpus_id, position_id
--   n_comparisons    comparisons of the group with a row at x
--   mean_kl          E[KL](x) = mean over them of (KL(p_a||p_b) + KL(p_b||p_a)) / 2, nats
--   m2_kl            sum over them of (kl - mean_kl)^2 (for exact pooled variances downstream)
CREATE OR REPLACE FUNCTION compute_position_kl(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, position_id int, n_comparisons int, mean_kl double precision,
    m2_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT
    gm.group_id,
    p.corpus_id::smallint,
    pt.position_id,
    count(*)::int,
    avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2),
    var_pop((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) * count(*)
FROM unnest(p_group_ids) AS sel(group_id)
JOIN comparison_group_member AS gm ON gm.group_id = sel.group_id
JOIN pair_token AS pt ON pt.comparison_id = gm.comparison_id
JOIN position AS p ON p.position_id = pt.position_id
WHERE p.corpus_id = p_corpus_id
GROUP BY gm.group_id, p.corpus_id, pt.position_id
$$;

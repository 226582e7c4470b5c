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
FROM pair_token AS pt
JOIN comparison_group_member AS gm ON gm.comparison_id = pt.comparison_id
JOIN position AS p ON p.position_id = pt.position_id
WHERE p.corpus_id = p_corpus_id
  -- the groups' comparisons as an index condition of the scan itself
  AND pt.comparison_id = ANY (ARRAY(
      SELECT m.comparison_id FROM comparison_group_member AS m WHERE m.group_id = ANY (p_group_ids)
  ))
GROUP BY gm.group_id, p.corpus_id, pt.position_id
$$;

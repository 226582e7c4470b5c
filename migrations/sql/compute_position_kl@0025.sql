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
-- the groups' members once (an index walk from the groups); MATERIALIZED so that the scan below gets their
-- comparison ids as one index condition and the join reads a small hashed list, not the view per row
WITH members AS MATERIALIZED (
    SELECT m.group_id, m.comparison_id FROM comparison_group_member AS m WHERE m.group_id = ANY (p_group_ids)
),
-- the corpus as its position-id range: every corpus's positions are one contiguous range (its fact partition,
-- convdiv/warehouse/partitions.py), so a bound on position_id selects its rows without a position lookup per row
span AS (
    SELECT min(p.position_id) AS lo, max(p.position_id) AS hi FROM position AS p WHERE p.corpus_id = p_corpus_id
)
SELECT
    gm.group_id,
    p_corpus_id::smallint,
    pt.position_id,
    count(*)::int,
    avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2),
    var_pop((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) * count(*)
FROM pair_token AS pt
JOIN members AS gm ON gm.comparison_id = pt.comparison_id
WHERE pt.comparison_id = ANY (ARRAY(SELECT m.comparison_id FROM members AS m))
  AND pt.position_id BETWEEN (SELECT s.lo FROM span AS s) AND (SELECT s.hi FROM span AS s)
GROUP BY gm.group_id, pt.position_id
$$;

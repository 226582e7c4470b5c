-- compute_conditional_kl(group_ids, corpus_id): per comparison group and category, E[KL | c] over the group's
-- comparisons with its SD, and the mean CE of the two checkpoints over the category, from the stored
-- comparison_stats and checkpoint_stats; stored in agg_conditional_kl (read through conditional_kl).
--
-- Columns (as table agg_conditional_kl):
--   group_id, corpus_id, family, category, category_order
--   n_comparisons, n_positions   comparisons averaged; positions of the category per comparison (the largest)
--   mean_kl, sd_kl               mean and sample SD over comparisons of the category's mean KL, nats
--   mean_ce                      mean over comparisons of (CE of a + CE of b) / 2 over the category, nats
CREATE OR REPLACE FUNCTION compute_conditional_kl(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, family text, category text, category_order int, n_comparisons bigint,
    n_positions bigint, mean_kl double precision, sd_kl double precision, mean_ce double precision
)
LANGUAGE sql STABLE
AS $$
SELECT
    gm.group_id,
    cs.corpus_id,
    cs.family,
    cs.category,
    cs.category_order,
    count(*),
    max(cs.n_positions),
    avg(cs.mean_kl),
    stddev_samp(cs.mean_kl),
    avg((ka.mean_ce + kb.mean_ce) / 2)
FROM comparison_stats AS cs
JOIN comparison_group_member AS gm ON gm.comparison_id = cs.comparison_id
LEFT JOIN checkpoint_stats AS ka
    ON ka.checkpoint_id = gm.checkpoint_a AND ka.corpus_id = cs.corpus_id
    AND ka.family = cs.family AND ka.category = cs.category
LEFT JOIN checkpoint_stats AS kb
    ON kb.checkpoint_id = gm.checkpoint_b AND kb.corpus_id = cs.corpus_id
    AND kb.family = cs.family AND kb.category = cs.category
WHERE cs.corpus_id = p_corpus_id AND cs.family <> 'all'
  -- the groups' members found from the groups (an index walk), not by joining every comparison
  AND gm.group_id = ANY (p_group_ids)
  AND cs.comparison_id = ANY (ARRAY(
      SELECT m.comparison_id FROM comparison_group_member AS m WHERE m.group_id = ANY (p_group_ids)
  ))
GROUP BY gm.group_id, cs.corpus_id, cs.family, cs.category, cs.category_order
$$;

-- compute_context_variance(group_ids, corpus_id): per comparison group, the mean and sample SD across positions of
-- E[KL](x), from the stored agg_position_kl; stored in agg_context_variance (read through context_variance).
--
-- Columns (as table agg_context_variance):
--   group_id, corpus_id
--   n_comparisons     comparisons averaged per position (the largest, if unequal)
--   n_positions       positions with at least one comparison
--   mean_kl, sd_kl    mean and sample SD across positions of E[KL](x), nats
CREATE OR REPLACE FUNCTION compute_context_variance(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, n_comparisons int, n_positions bigint, mean_kl double precision,
    sd_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT pk.group_id, pk.corpus_id, max(pk.n_comparisons), count(*), avg(pk.mean_kl), stddev_samp(pk.mean_kl)
FROM agg_position_kl AS pk
WHERE pk.group_id = ANY (p_group_ids) AND pk.corpus_id = p_corpus_id
GROUP BY pk.group_id, pk.corpus_id
$$;

-- compute_token_kl(group_ids, corpus_id): per comparison group and predicted token, the pooled mean KL over every
-- (comparison, position) row of the positions that predict the token, from agg_position_kl; stored in agg_token_kl
-- (token_divergence's KL side).
--
-- Columns (as table agg_token_kl):
--   group_id, corpus_id, token_id
--   occurrences      positions of the corpus that predict this token
--   n_comparisons    comparisons per position (the largest, if unequal)
--   mean_kl          pooled mean, nats (equals the mean over comparisons when every comparison covers the corpus)
CREATE OR REPLACE FUNCTION compute_token_kl(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, token_id int, occurrences bigint, n_comparisons int, mean_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT pk.group_id, pk.corpus_id, p.target_token_id, count(*), max(pk.n_comparisons),
       sum(pk.n_comparisons * pk.mean_kl) / sum(pk.n_comparisons)
FROM unnest(p_group_ids) AS sel(group_id)
JOIN agg_position_kl AS pk ON pk.group_id = sel.group_id AND pk.corpus_id = p_corpus_id
JOIN position AS p ON p.position_id = pk.position_id
GROUP BY pk.group_id, pk.corpus_id, p.target_token_id
$$;

-- compute_token_ce(checkpoint_ids, corpus_id): mean CE per model size, step and predicted token over every seed's
-- checkpoint at the (size, step) of the given checkpoints, computed from the facts; stored in agg_token_ce.
--
-- Serves: the CE side of token_divergence (mean_ce).
-- Columns (as table agg_token_ce):
--   model_id, step, corpus_id, token_id   the size, step and predicted token w(x+1)
--   n          (checkpoint, position) rows of the token at that size and step
--   mean_ce    mean CE over those rows, nats
CREATE OR REPLACE FUNCTION compute_token_ce(p_checkpoint_ids int[], p_corpus_id int)
RETURNS TABLE (model_id smallint, step int, corpus_id smallint, token_id int, n bigint, mean_ce double precision)
LANGUAGE sql STABLE
AS $$
WITH size_step AS (
    SELECT DISTINCT ci.model_id, ci.step
    FROM unnest(p_checkpoint_ids) AS sel(checkpoint_id)
    JOIN checkpoint_info AS ci ON ci.checkpoint_id = sel.checkpoint_id
)
SELECT ci.model_id::smallint, ci.step, p.corpus_id::smallint, p.target_token_id, count(*),
       avg(ct.ce::double precision)
FROM size_step AS ss
JOIN checkpoint_info AS ci ON ci.model_id = ss.model_id AND ci.step = ss.step
JOIN checkpoint_token AS ct ON ct.checkpoint_id = ci.checkpoint_id
JOIN position AS p ON p.position_id = ct.position_id
WHERE p.corpus_id = p_corpus_id
GROUP BY ci.model_id, ci.step, p.corpus_id, p.target_token_id
$$;

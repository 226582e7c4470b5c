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
    SELECT DISTINCT ci.model_id, ci.step FROM checkpoint_info AS ci WHERE ci.checkpoint_id = ANY (p_checkpoint_ids)
)
SELECT ci.model_id::smallint, ci.step, p.corpus_id::smallint, p.target_token_id, count(*),
       avg(ct.ce::double precision)
FROM checkpoint_token AS ct
JOIN checkpoint_info AS ci ON ci.checkpoint_id = ct.checkpoint_id
JOIN position AS p ON p.position_id = ct.position_id
WHERE p.corpus_id = p_corpus_id
  AND ct.checkpoint_id = ANY (ARRAY(
      SELECT c.checkpoint_id FROM checkpoint_info AS c JOIN size_step AS ss ON ss.model_id = c.model_id AND ss.step = c.step
  ))
GROUP BY ci.model_id, ci.step, p.corpus_id, p.target_token_id
$$;

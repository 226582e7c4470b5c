-- final_surprisal (materialised): each position's surprisal at the end of training, per model size and corpus.
--
-- Serves: the 'surprisal_bin' category family of checkpoint_stats / comparison_stats (conditional_kl,
-- relative_divergence, ce_difference): are tokens the final model finds hard also where seeds disagree?
-- Columns:
--   model_id, corpus_id, position_id
--   final_step            the last step of this model size with facts in this corpus (the latest ingested step)
--   n_seeds               number of seeds with a row at final_step
--   final_ce              mean over those seeds of the CE of w(x+1) at final_step, nats
--   surprisal_bin_order   0..4 for final_ce in [0,1), [1,2), [2,4), [4,8), [8,inf) nats
--   surprisal_bin         labels '0-1', '1-2', '2-4', '4-8', '8+'
-- Refreshed by convdiv.analysis.refresh.refresh_aggregates (first: the stats below depend on it).
CREATE MATERIALIZED VIEW final_surprisal AS
WITH last_step AS (
    -- a checkpoint "has facts in a corpus" when one of its checkpoint_token rows points at a position of it;
    -- EXISTS stops at the first row through the (checkpoint_id, position_id) key
    SELECT ci.model_id, co.corpus_id, max(ci.step) AS final_step
    FROM checkpoint_info AS ci
    CROSS JOIN corpus AS co
    WHERE EXISTS (
        SELECT 1
        FROM checkpoint_token AS ct
        JOIN position AS p ON p.position_id = ct.position_id
        WHERE ct.checkpoint_id = ci.checkpoint_id AND p.corpus_id = co.corpus_id
    )
    GROUP BY ci.model_id, co.corpus_id
),
final AS (
    SELECT
        ls.model_id,
        ls.corpus_id,
        ct.position_id,
        ls.final_step,
        count(*) AS n_seeds,
        avg(ct.ce::double precision) AS final_ce
    FROM last_step AS ls
    JOIN checkpoint_info AS ci ON ci.model_id = ls.model_id AND ci.step = ls.final_step
    JOIN checkpoint_token AS ct ON ct.checkpoint_id = ci.checkpoint_id
    JOIN position AS p ON p.position_id = ct.position_id AND p.corpus_id = ls.corpus_id
    GROUP BY ls.model_id, ls.corpus_id, ct.position_id, ls.final_step
)
SELECT
    f.model_id,
    f.corpus_id,
    f.position_id,
    f.final_step,
    f.n_seeds,
    f.final_ce,
    b.surprisal_bin_order,
    (ARRAY['0-1', '1-2', '2-4', '4-8', '8+'])[b.surprisal_bin_order + 1] AS surprisal_bin
FROM final AS f
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN f.final_ce < 1 THEN 0
        WHEN f.final_ce < 2 THEN 1
        WHEN f.final_ce < 4 THEN 2
        WHEN f.final_ce < 8 THEN 3
        ELSE 4
    END AS surprisal_bin_order
) AS b;

CREATE UNIQUE INDEX ix_final_surprisal_key ON final_surprisal (model_id, corpus_id, position_id);

-- position_kl (materialised): the per-position expected KL, E[KL](x), per suite, corpus, comparison kind, size
-- and step: for each position x, the mean over the group's comparisons of (KL(p_a||p_b) + KL(p_b||p_a)) / 2.
--
-- Serves: context_variance, token_divergence and regression_cells read this instead of pair_token (one scan of the
-- facts instead of three); analysts' per-position questions ("which contexts do the seeds disagree on at 512?").
-- Columns:
--   suite_id, corpus_id, kind, model_a, model_b, size, size_rank, size_b, step, step_b   the comparison group
--   position_id      the position x
--   n_comparisons    comparisons with a row at x
--   mean_kl          E[KL](x), nats
--   m2_kl            sum over those comparisons of (kl - mean_kl)^2 (for exact pooled variances downstream)
-- Refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW position_kl AS
SELECT
    ci.suite_id,
    p.corpus_id,
    ci.kind,
    ci.model_a,
    ci.model_b,
    ci.size_a AS size,
    ci.size_rank_a AS size_rank,
    ci.size_b,
    ci.step_a AS step,
    ci.step_b,
    pt.position_id,
    count(*) AS n_comparisons,
    avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) AS mean_kl,
    var_pop((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) * count(*) AS m2_kl
FROM pair_token AS pt
JOIN comparison_info AS ci ON ci.comparison_id = pt.comparison_id
JOIN position AS p ON p.position_id = pt.position_id
GROUP BY ci.suite_id, p.corpus_id, ci.kind, ci.model_a, ci.model_b, ci.size_a, ci.size_rank_a, ci.size_b, ci.step_a,
         ci.step_b, pt.position_id;

CREATE INDEX ix_position_kl_group ON position_kl (suite_id, corpus_id, kind, size, step);

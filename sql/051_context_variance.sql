-- context_variance (materialised): per suite, corpus, kind, size and step, how E[KL] varies across contexts.
--   E[KL](x) = mean over comparisons of (KL(p_a||p_b) + KL(p_b||p_a)) / 2 at position x;
--   mean_kl = mean over positions of E[KL](x), sd_kl = its sample SD across positions.
-- Serves: the study's question whether seeds disagree uniformly or on a few contexts (a large sd_kl relative to
-- mean_kl means disagreement concentrated on few positions).
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b   as in expected_kl
--   n_comparisons     comparisons averaged per position (the largest, if unequal)
--   n_positions       positions with at least one comparison
--   mean_kl, sd_kl    mean and sample SD across positions of E[KL](x), nats
-- Refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW context_variance AS
WITH per_position AS (
    SELECT
        ci.suite_id,
        p.corpus_id,
        ci.kind,
        ci.model_a,
        ci.model_b,
        ci.step_a,
        ci.step_b,
        pt.position_id,
        count(*) AS n_comparisons,
        avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) AS e_kl
    FROM pair_token AS pt
    JOIN comparison_info AS ci ON ci.comparison_id = pt.comparison_id
    JOIN position AS p ON p.position_id = pt.position_id
    GROUP BY ci.suite_id, p.corpus_id, ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b, pt.position_id
)
SELECT
    s.name AS suite,
    pp.suite_id,
    co.name AS corpus,
    pp.corpus_id,
    pp.kind,
    ma.size,
    ma.size_rank,
    mb.size AS size_b,
    pp.step_a AS step,
    pp.step_b,
    max(pp.n_comparisons) AS n_comparisons,
    count(*) AS n_positions,
    avg(pp.e_kl) AS mean_kl,
    stddev_samp(pp.e_kl) AS sd_kl
FROM per_position AS pp
JOIN suite AS s ON s.suite_id = pp.suite_id
JOIN corpus AS co ON co.corpus_id = pp.corpus_id
JOIN model AS ma ON ma.model_id = pp.model_a
JOIN model AS mb ON mb.model_id = pp.model_b
GROUP BY s.name, pp.suite_id, co.name, pp.corpus_id, pp.kind, ma.size, ma.size_rank, mb.size, pp.step_a, pp.step_b;

CREATE INDEX ix_context_variance_group ON context_variance (suite_id, corpus_id, kind, size, step);

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
-- Reads position_kl; refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW context_variance AS
SELECT
    s.name AS suite,
    pk.suite_id,
    co.name AS corpus,
    pk.corpus_id,
    pk.kind,
    pk.size,
    pk.size_rank,
    pk.size_b,
    pk.step,
    pk.step_b,
    max(pk.n_comparisons) AS n_comparisons,
    count(*) AS n_positions,
    avg(pk.mean_kl) AS mean_kl,
    stddev_samp(pk.mean_kl) AS sd_kl
FROM position_kl AS pk
JOIN suite AS s ON s.suite_id = pk.suite_id
JOIN corpus AS co ON co.corpus_id = pk.corpus_id
GROUP BY s.name, pk.suite_id, co.name, pk.corpus_id, pk.kind, pk.size, pk.size_rank, pk.size_b, pk.step, pk.step_b;

CREATE INDEX ix_context_variance_group ON context_variance (suite_id, corpus_id, kind, size, step);

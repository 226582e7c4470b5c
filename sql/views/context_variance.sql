-- context_variance: per suite, corpus, kind, size and step, how E[KL] varies across contexts.
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
-- Reads agg_context_variance, maintained per comparison group in each unit's publish transaction.
CREATE OR REPLACE VIEW context_variance AS
SELECT
    g.suite,
    g.suite_id,
    co.name AS corpus,
    cv.corpus_id,
    g.kind,
    g.size_a AS size,
    g.size_rank_a AS size_rank,
    g.size_b,
    g.step_a AS step,
    g.step_b,
    cv.n_comparisons,
    cv.n_positions,
    cv.mean_kl,
    cv.sd_kl
FROM agg_context_variance AS cv
JOIN comparison_group_info AS g ON g.group_id = cv.group_id
JOIN corpus AS co ON co.corpus_id = cv.corpus_id;

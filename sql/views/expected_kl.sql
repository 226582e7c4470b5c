-- expected_kl: the study's expected KL between checkpoints, E[KL], per suite, corpus, comparison kind, size, step.
--   E[KL](m, t) = mean over comparisons c of KL_c,  KL_c = mean over positions x of (KL(p_a||p_b) + KL(p_b||p_a)) / 2
-- For seed pairs this is the convergence curve (convergence = -E[KL]); for consecutive steps the learnability
-- curve (how far a run moves between step and step_b).
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind
--   size, size_rank, step     size and step of checkpoint a (for consecutive_step: t1)
--   size_b, step_b            size and step of checkpoint b (consecutive_step: the next step t2; cross_size: size 2)
--   n_comparisons             number of comparisons averaged (seed pairs: S (S - 1) / 2)
--   n_positions               positions per comparison (the largest, if an incomplete ingest left them unequal)
--   mean_kl                   E[KL], nats
--   sd_kl                     sample SD of KL_c over comparisons (NULL for one comparison)
--   se_kl                     sd_kl / sqrt(n_comparisons)
--   ci_low, ci_high           95% interval mean_kl -/+ t_quantile_975(n_comparisons - 1) * se_kl
--   convergence               -mean_kl
-- Reads the materialised comparison_stats (family 'all'), so it answers without scanning pair_token.
CREATE OR REPLACE VIEW expected_kl AS
SELECT
    g.suite,
    g.suite_id,
    co.name AS corpus,
    g.corpus_id,
    g.kind,
    g.size,
    g.size_rank,
    g.size_b,
    g.step,
    g.step_b,
    g.n_comparisons,
    g.n_positions,
    g.mean_kl,
    g.sd_kl,
    g.sd_kl / sqrt(g.n_comparisons) AS se_kl,
    g.mean_kl - t_quantile_975(g.n_comparisons - 1) * g.sd_kl / sqrt(g.n_comparisons) AS ci_low,
    g.mean_kl + t_quantile_975(g.n_comparisons - 1) * g.sd_kl / sqrt(g.n_comparisons) AS ci_high,
    -g.mean_kl AS convergence
FROM (
    SELECT
        ci.suite,
        ci.suite_id,
        cs.corpus_id,
        ci.kind,
        ci.size_a AS size,
        ci.size_rank_a AS size_rank,
        ci.size_b,
        ci.step_a AS step,
        ci.step_b,
        count(*) AS n_comparisons,
        max(cs.n_positions) AS n_positions,
        avg(cs.mean_kl) AS mean_kl,
        stddev_samp(cs.mean_kl) AS sd_kl
    FROM comparison_stats AS cs
    JOIN comparison_info AS ci ON ci.comparison_id = cs.comparison_id
    WHERE cs.family = 'all'
    GROUP BY ci.suite, ci.suite_id, cs.corpus_id, ci.kind, ci.size_a, ci.size_rank_a, ci.size_b, ci.step_a, ci.step_b
) AS g
JOIN corpus AS co ON co.corpus_id = g.corpus_id;

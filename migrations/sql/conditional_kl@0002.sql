-- conditional_kl: E[KL] restricted to the positions of one category, per suite, corpus, kind, size, step, family
-- and category: the study's conditional convergence (which POS(t), POS(t-1), frequency bins, final-surprisal bins,
-- word-boundary positions converge or diverge first).
--   E[KL | c](m, t) = mean over comparisons of (mean over positions x in c of (KL(p_a||p_b) + KL(p_b||p_a)) / 2)
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b   as in expected_kl
--   family, category, category_order   the category (see comparison_stats); no row for a category without positions
--   n_comparisons, n_positions          comparisons averaged; positions of the category per comparison
--   mean_kl, sd_kl, se_kl, ci_low, ci_high   as in expected_kl, over the category's positions
--   mean_ce       mean over comparisons of (CE of a + CE of b) / 2 over the category's positions, nats
--                 (for seed pairs: the mean CE of the category over the seeds)
-- Materialised (refreshed by refresh_aggregates after comparison_stats and checkpoint_stats): averaging ~100k
-- per-comparison category rows with their CEs took seconds per read at paper scale; reading this takes ms.
CREATE MATERIALIZED VIEW conditional_kl AS
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
    g.family,
    g.category,
    g.category_order,
    g.n_comparisons,
    g.n_positions,
    g.mean_kl,
    g.sd_kl,
    g.sd_kl / sqrt(g.n_comparisons) AS se_kl,
    g.mean_kl - t_quantile_975(g.n_comparisons - 1) * g.sd_kl / sqrt(g.n_comparisons) AS ci_low,
    g.mean_kl + t_quantile_975(g.n_comparisons - 1) * g.sd_kl / sqrt(g.n_comparisons) AS ci_high,
    g.mean_ce
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
        cs.family,
        cs.category,
        cs.category_order,
        count(*) AS n_comparisons,
        max(cs.n_positions) AS n_positions,
        avg(cs.mean_kl) AS mean_kl,
        stddev_samp(cs.mean_kl) AS sd_kl,
        avg((ka.mean_ce + kb.mean_ce) / 2) AS mean_ce
    FROM comparison_stats AS cs
    JOIN comparison_info AS ci ON ci.comparison_id = cs.comparison_id
    LEFT JOIN checkpoint_stats AS ka
        ON ka.checkpoint_id = ci.checkpoint_a AND ka.corpus_id = cs.corpus_id
        AND ka.family = cs.family AND ka.category = cs.category
    LEFT JOIN checkpoint_stats AS kb
        ON kb.checkpoint_id = ci.checkpoint_b AND kb.corpus_id = cs.corpus_id
        AND kb.family = cs.family AND kb.category = cs.category
    WHERE cs.family <> 'all'
    GROUP BY ci.suite, ci.suite_id, cs.corpus_id, ci.kind, ci.size_a, ci.size_rank_a, ci.size_b, ci.step_a, ci.step_b,
             cs.family, cs.category, cs.category_order
) AS g
JOIN corpus AS co ON co.corpus_id = g.corpus_id;

CREATE INDEX ix_conditional_kl_group ON conditional_kl (suite_id, corpus_id, kind, size, step);

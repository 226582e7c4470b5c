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
-- Reads agg_conditional_kl, maintained per comparison group in each unit's publish transaction.
CREATE OR REPLACE VIEW conditional_kl AS
SELECT
    g.suite,
    g.suite_id,
    co.name AS corpus,
    a.corpus_id,
    g.kind,
    g.size_a AS size,
    g.size_rank_a AS size_rank,
    g.size_b,
    g.step_a AS step,
    g.step_b,
    a.family,
    a.category,
    a.category_order,
    a.n_comparisons,
    a.n_positions,
    a.mean_kl,
    a.sd_kl,
    a.sd_kl / sqrt(a.n_comparisons) AS se_kl,
    a.mean_kl - t_quantile_975(a.n_comparisons - 1) * a.sd_kl / sqrt(a.n_comparisons) AS ci_low,
    a.mean_kl + t_quantile_975(a.n_comparisons - 1) * a.sd_kl / sqrt(a.n_comparisons) AS ci_high,
    a.mean_ce
FROM agg_conditional_kl AS a
JOIN comparison_group_info AS g ON g.group_id = a.group_id
JOIN corpus AS co ON co.corpus_id = a.corpus_id;

-- ce_difference: per comparison and category, the cross-entropy difference between the two checkpoints next to
-- the category's KL: the inputs of the study's fit KL_c ~ alpha * Q + b, Q = delta_h or ce_ratio, per category
-- (convdiv.analysis.fits).
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, comparison_id, kind
--   size_a, size_b, size_rank_a, seed_a, seed_b, step_a, step_b   the two checkpoints
--   family, category, category_order    the category (see comparison_stats); no row for an empty category
--   n_positions    positions of the category in the comparison
--   ce_a, ce_b     mean CE (surprisal) of checkpoint a / b over the category's positions, nats: H(a), H(b)
--   delta_h        dH = H(a) - H(b)
--   ce_ratio       H(a) / H(b) (NULL when H(b) is 0)
--   mean_kl        mean over the category's positions of (KL(p_a||p_b) + KL(p_b||p_a)) / 2, nats
-- A join of the maintained comparison_stats and checkpoint_stats (one row per comparison and category).
CREATE OR REPLACE VIEW ce_difference AS
SELECT
    ci.suite,
    ci.suite_id,
    co.name AS corpus,
    cs.corpus_id,
    cs.comparison_id,
    ci.kind,
    ci.size_a,
    ci.size_b,
    ci.size_rank_a,
    ci.seed_a,
    ci.seed_b,
    ci.step_a,
    ci.step_b,
    cs.family,
    cs.category,
    cs.category_order,
    cs.n_positions,
    ka.mean_ce AS ce_a,
    kb.mean_ce AS ce_b,
    ka.mean_ce - kb.mean_ce AS delta_h,
    ka.mean_ce / nullif(kb.mean_ce, 0) AS ce_ratio,
    cs.mean_kl
FROM comparison_stats AS cs
JOIN comparison_info AS ci ON ci.comparison_id = cs.comparison_id
JOIN corpus AS co ON co.corpus_id = cs.corpus_id
LEFT JOIN checkpoint_stats AS ka
    ON ka.checkpoint_id = ci.checkpoint_a AND ka.corpus_id = cs.corpus_id
    AND ka.family = cs.family AND ka.category = cs.category
LEFT JOIN checkpoint_stats AS kb
    ON kb.checkpoint_id = ci.checkpoint_b AND kb.corpus_id = cs.corpus_id
    AND kb.family = cs.family AND kb.category = cs.category
WHERE cs.family <> 'all';

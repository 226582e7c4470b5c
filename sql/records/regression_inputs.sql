-- regression_inputs: the design matrix of the study's regression, one row per (comparison, position):
--   KL ~ alpha * log freq + sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p] + sum_m delta_m [size = m]
-- fitted per step and comparison kind by convdiv.analysis.regression (statsmodels, reference coding).
--
-- Not materialised (it is as large as pair_token): filter by kind and step.
-- Columns:
--   suite, suite_id, corpus, corpus_id, comparison_id, kind
--   size, size_rank, step        size and step of checkpoint a (the regression's size factor and step)
--   size_b, step_b, seed_a, seed_b   the other side of the comparison
--   position_id, token_id        the position and its predicted token w(x+1)
--   kl                           (KL(p_a || p_b) + KL(p_b || p_a)) / 2 at this position, nats
--   frequency, log_frequency     count of w(x+1) and ln of it (NULL for a count of 0: drop those rows to fit)
--   pos_t, pos_prev              POS(t), POS(t-1) (NULL for whitespace / special tokens)
CREATE OR REPLACE VIEW regression_inputs AS
SELECT
    cmp.suite,
    cmp.suite_id,
    pf.corpus,
    pf.corpus_id,
    pt.comparison_id,
    cmp.kind,
    cmp.size_a AS size,
    cmp.size_rank_a AS size_rank,
    cmp.step_a AS step,
    cmp.size_b,
    cmp.step_b,
    cmp.seed_a,
    cmp.seed_b,
    pt.position_id,
    pf.token_id,
    (pt.kl_ab::double precision + pt.kl_ba::double precision) / 2 AS kl,
    pf.frequency,
    pf.log_frequency,
    pf.pos_t,
    pf.pos_prev
FROM pair_token AS pt
JOIN comparison_info AS cmp ON cmp.comparison_id = pt.comparison_id
JOIN position_features AS pf ON pf.position_id = pt.position_id;

-- comparison_moments: the regression's sufficient statistics per comparison and (POS(t), POS(t-1)) group;
-- regression_moments holds the same sums added over the comparisons of a (size, step). Positions with a zero
-- frequency (no log) are left out, as in the regression.
--
-- Serves: the report's bootstrap over seeds of the regression coefficients (it reweights comparisons). Reading one
-- (suite, corpus, kind) scans that kind's pair_token rows once.
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind
--   comparison_id, seed_a, seed_b   the comparison and its two seeds
--   size, step                      checkpoint a's size and step
--   pos_t, pos_prev                 the group (NULL tags form their own group)
--   n                               positions in the group
--   sum_lf, sum_lf2                 sums of log_frequency (ln of the count, as position_features) and of its square
--   sum_kl, sum_kl2                 sums of the symmetric KL and of its square
--   sum_lf_kl                       sum of log_frequency times KL
CREATE OR REPLACE VIEW comparison_moments AS
SELECT ci.suite,
       ci.suite_id,
       pf.corpus,
       pf.corpus_id,
       ci.kind,
       ci.comparison_id,
       ci.seed_a,
       ci.seed_b,
       ci.size_a AS size,
       ci.step_a AS step,
       pf.pos_t,
       pf.pos_prev,
       count(*) AS n,
       sum(pf.log_frequency) AS sum_lf,
       sum(pf.log_frequency ^ 2) AS sum_lf2,
       sum(k.kl) AS sum_kl,
       sum(k.kl ^ 2) AS sum_kl2,
       sum(pf.log_frequency * k.kl) AS sum_lf_kl
FROM comparison_info AS ci
JOIN pair_token AS pt ON pt.comparison_id = ci.comparison_id
JOIN position_features AS pf ON pf.position_id = pt.position_id
CROSS JOIN LATERAL (SELECT (pt.kl_ab::float8 + pt.kl_ba::float8) / 2 AS kl) AS k
WHERE pf.log_frequency IS NOT NULL
GROUP BY ci.suite, ci.suite_id, pf.corpus, pf.corpus_id, ci.kind, ci.comparison_id, ci.seed_a, ci.seed_b,
         ci.size_a, ci.step_a, pf.pos_t, pf.pos_prev;

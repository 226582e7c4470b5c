-- The regression's sufficient statistics per comparison and (POS(t), POS(t-1)) group (regression_moments keeps
-- them summed over comparisons): the input of the bootstrap over seeds of the regression coefficients, which
-- reweights comparisons. One scan of the kind's pair_token rows; rows with a zero frequency (no log) left out.
-- params: suite, corpus, kind.  columns: comparison_id, seed_a, seed_b, step, size, pos_t, pos_prev, n, sum_lf,
-- sum_lf2, sum_kl, sum_kl2, sum_lf_kl
SELECT ci.comparison_id, ci.seed_a, ci.seed_b, ci.step_a AS step, ci.size_a AS size, pf.pos_t, pf.pos_prev,
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
WHERE ci.suite = %(suite)s AND pf.corpus = %(corpus)s AND ci.kind = %(kind)s AND pf.log_frequency IS NOT NULL
GROUP BY ci.comparison_id, ci.seed_a, ci.seed_b, ci.step_a, ci.size_a, pf.pos_t, pf.pos_prev

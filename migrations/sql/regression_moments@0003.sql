-- regression_moments: the sufficient statistics of the study's regression, per suite, corpus, comparison kind,
-- size, step, POS(t) and POS(t-1):
--   KL ~ alpha * log freq + sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p] + sum_m delta_m [size = m]
-- Every regressor but log freq is an indicator of (size, pos_t, pos_prev), so X'X, X'y and y'y of the row-level
-- OLS per step are sums of these moments over the rows of the step: e.g. X'X[log freq, log freq] = sum(sum_lf2),
-- X'X[pos_t = p, size = m] = sum(n) over rows with pos_t = p and size = m, X'y[log freq] = sum(sum_lf_kl).
-- The view has at most (sizes x steps x kinds x POS pairs seen) rows, however many positions and seeds.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, step   as in regression_inputs
--   pos_t, pos_prev    the cell's tags (NULL tags form their own cells)
--   n                  (comparison, position) rows with a log frequency (a count of 0 has none: left out)
--   sum_lf, sum_lf2    sum of log_frequency and of its square over those rows
--   sum_kl, sum_kl2    sum of kl and of kl^2
--   sum_lf_kl          sum of log_frequency * kl
-- Sums agg_regression_moments (maintained per comparison group in each unit's publish transaction) over the
-- groups of one size and step.
CREATE OR REPLACE VIEW regression_moments AS
SELECT
    g.suite,
    g.suite_id,
    co.name AS corpus,
    m.corpus_id,
    g.kind,
    g.size_a AS size,
    g.size_rank_a AS size_rank,
    g.step_a AS step,
    m.pos_t,
    m.pos_prev,
    sum(m.n) AS n,
    sum(m.sum_lf) AS sum_lf,
    sum(m.sum_lf2) AS sum_lf2,
    sum(m.sum_kl) AS sum_kl,
    sum(m.sum_kl2) AS sum_kl2,
    sum(m.sum_lf_kl) AS sum_lf_kl
FROM agg_regression_moments AS m
JOIN comparison_group_info AS g ON g.group_id = m.group_id
JOIN corpus AS co ON co.corpus_id = m.corpus_id
GROUP BY g.suite, g.suite_id, co.name, m.corpus_id, g.kind, g.size_a, g.size_rank_a, g.step_a, m.pos_t, m.pos_prev;

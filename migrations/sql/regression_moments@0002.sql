-- regression_moments (materialised): the sufficient statistics of the study's regression, per suite, corpus,
-- comparison kind, size, step, POS(t) and POS(t-1):
--   KL ~ alpha * log freq + sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p] + sum_m delta_m [size = m]
-- Every regressor but log freq is an indicator of (size, pos_t, pos_prev), so X'X, X'y and y'y of the row-level
-- OLS per step are sums of these moments over the rows of the step: e.g. X'X[log freq, log freq] = sum(sum_lf2),
-- X'X[pos_t = p, size = m] = sum(n) over rows with pos_t = p and size = m, X'y[log freq] = sum(sum_lf_kl).
-- The table has at most (sizes x steps x kinds x POS pairs seen) rows, however many positions and seeds: the fit
-- reads thousands of rows instead of millions (regression_cells keeps one row per distinct frequency).
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, step   as in regression_inputs
--   pos_t, pos_prev    the cell's tags (NULL tags form their own cells)
--   n                  (comparison, position) rows with a log frequency (a count of 0 has none: left out)
--   sum_lf, sum_lf2    sum of log_frequency and of its square over those rows
--   sum_kl, sum_kl2    sum of kl and of kl^2
--   sum_lf_kl          sum of log_frequency * kl
-- Reads position_kl (per position: n comparisons, mean and m2 of kl); refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW regression_moments AS
SELECT
    s.name AS suite,
    pk.suite_id,
    co.name AS corpus,
    pk.corpus_id,
    pk.kind,
    pk.size,
    pk.size_rank,
    pk.step,
    pf.pos_t,
    pf.pos_prev,
    sum(pk.n_comparisons) AS n,
    sum(pk.n_comparisons * pf.log_frequency) AS sum_lf,
    sum(pk.n_comparisons * pf.log_frequency ^ 2) AS sum_lf2,
    sum(pk.n_comparisons * pk.mean_kl) AS sum_kl,
    -- sum over a position's comparisons of kl^2 = m2 + n * mean^2
    sum(pk.m2_kl + pk.n_comparisons * pk.mean_kl ^ 2) AS sum_kl2,
    sum(pk.n_comparisons * pf.log_frequency * pk.mean_kl) AS sum_lf_kl
FROM position_kl AS pk
JOIN position_features AS pf ON pf.position_id = pk.position_id
JOIN suite AS s ON s.suite_id = pk.suite_id
JOIN corpus AS co ON co.corpus_id = pk.corpus_id
WHERE pf.log_frequency IS NOT NULL
GROUP BY s.name, pk.suite_id, co.name, pk.corpus_id, pk.kind, pk.size, pk.size_rank, pk.step, pf.pos_t, pf.pos_prev;

CREATE INDEX ix_regression_moments_group ON regression_moments (suite_id, corpus_id, kind, step);

-- regression_cells (materialised): regression_inputs collapsed to cells of identical regressors, per suite,
-- corpus, comparison kind, size and step. Rows with the same (log_frequency, pos_t, pos_prev) in a (size, step)
-- have the same design-matrix row, so the row-level OLS of
--   KL ~ alpha * log freq + sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p] + sum_m delta_m [size = m]
-- is recovered exactly from (n, mean_kl, ss_within) per cell (weighted least squares on the cell means, with
-- ss_within added to the residual sum of squares): what convdiv.analysis.regression fits, without reading millions
-- of rows.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, step   as in regression_inputs
--   log_frequency, frequency, pos_t, pos_prev    the cell's regressors (NULL tags form their own cells; a NULL
--                                                log_frequency is a count of 0, left out of fits)
--   n            (comparison, position) rows in the cell
--   mean_kl      mean of their kl, nats
--   ss_within    sum over the cell's rows of (kl - mean_kl)^2
-- Refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW regression_cells AS
SELECT
    ri.suite,
    ri.suite_id,
    ri.corpus,
    ri.corpus_id,
    ri.kind,
    ri.size,
    ri.size_rank,
    ri.step,
    ri.log_frequency,
    ri.frequency,
    ri.pos_t,
    ri.pos_prev,
    count(*) AS n,
    avg(ri.kl) AS mean_kl,
    var_pop(ri.kl) * count(*) AS ss_within
FROM regression_inputs AS ri
GROUP BY ri.suite, ri.suite_id, ri.corpus, ri.corpus_id, ri.kind, ri.size, ri.size_rank, ri.step,
         ri.log_frequency, ri.frequency, ri.pos_t, ri.pos_prev;

CREATE INDEX ix_regression_cells_group ON regression_cells (suite_id, corpus_id, kind, step);

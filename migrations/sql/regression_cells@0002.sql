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
-- Reads position_kl: a cell pools positions, ss_within = sum of each position's m2_kl + n_x (mean_x - mean)^2
-- (the exact pooled sum of squares, Chan et al. 1979). Refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW regression_cells AS
WITH cells AS (
    SELECT
        pk.suite_id, pk.corpus_id, pk.kind, pk.size, pk.size_rank, pk.step,
        pf.log_frequency, pf.frequency, pf.pos_t, pf.pos_prev,
        pk.n_comparisons, pk.mean_kl, pk.m2_kl,
        sum(pk.n_comparisons * pk.mean_kl) OVER cell / sum(pk.n_comparisons) OVER cell AS cell_mean
    FROM position_kl AS pk
    JOIN position_features AS pf ON pf.position_id = pk.position_id
    -- the same cells as the GROUP BY below (frequency determines log_frequency)
    WINDOW cell AS (PARTITION BY pk.suite_id, pk.corpus_id, pk.kind, pk.size, pk.step, pf.frequency, pf.pos_t,
                    pf.pos_prev)
)
SELECT
    s.name AS suite,
    c.suite_id,
    co.name AS corpus,
    c.corpus_id,
    c.kind,
    c.size,
    c.size_rank,
    c.step,
    c.log_frequency,
    c.frequency,
    c.pos_t,
    c.pos_prev,
    sum(c.n_comparisons) AS n,
    min(c.cell_mean) AS mean_kl,
    sum(c.m2_kl + c.n_comparisons * (c.mean_kl - c.cell_mean) ^ 2) AS ss_within
FROM cells AS c
JOIN suite AS s ON s.suite_id = c.suite_id
JOIN corpus AS co ON co.corpus_id = c.corpus_id
GROUP BY s.name, c.suite_id, co.name, c.corpus_id, c.kind, c.size, c.size_rank, c.step, c.log_frequency,
         c.frequency, c.pos_t, c.pos_prev;

CREATE INDEX ix_regression_cells_group ON regression_cells (suite_id, corpus_id, kind, step);

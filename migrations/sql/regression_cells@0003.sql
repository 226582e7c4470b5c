-- regression_cells: regression_inputs collapsed to cells of identical regressors, per suite, corpus, comparison
-- kind, size and step. Rows with the same (log_frequency, pos_t, pos_prev) in a (size, step) have the same
-- design-matrix row, so the row-level OLS of
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
-- Reads agg_regression_cells (maintained per comparison group in each unit's publish transaction) and pools the
-- groups of one size and step (several only for cross_size: one per second size) exactly (Chan et al. 1979).
CREATE OR REPLACE VIEW regression_cells AS
WITH cells AS (
    SELECT
        g.suite, g.suite_id, c.corpus_id, g.kind, g.size_a, g.size_rank_a, g.step_a,
        c.frequency, c.pos_t, c.pos_prev, c.n, c.mean_kl, c.ss_within,
        sum(c.n * c.mean_kl) OVER cell / sum(c.n) OVER cell AS cell_mean
    FROM agg_regression_cells AS c
    JOIN comparison_group_info AS g ON g.group_id = c.group_id
    WINDOW cell AS (PARTITION BY g.suite_id, c.corpus_id, g.kind, g.size_a, g.step_a, c.frequency, c.pos_t,
                    c.pos_prev)
)
SELECT
    c.suite,
    c.suite_id,
    co.name AS corpus,
    c.corpus_id,
    c.kind,
    c.size_a AS size,
    c.size_rank_a AS size_rank,
    c.step_a AS step,
    CASE WHEN c.frequency > 0 THEN ln(c.frequency::double precision) END AS log_frequency,
    c.frequency,
    c.pos_t,
    c.pos_prev,
    sum(c.n) AS n,
    min(c.cell_mean) AS mean_kl,
    sum(c.ss_within + c.n * (c.mean_kl - c.cell_mean) ^ 2) AS ss_within
FROM cells AS c
JOIN corpus AS co ON co.corpus_id = c.corpus_id
GROUP BY c.suite, c.suite_id, co.name, c.corpus_id, c.kind, c.size_a, c.size_rank_a, c.step_a, c.frequency,
         c.pos_t, c.pos_prev;

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
-- Reads agg_regression_cells (maintained per comparison group in each unit's publish transaction). A size and step
-- has one group per kind, except cross_size (one per second size), whose cells are pooled exactly (Chan et al.
-- 1979); the other kinds pass through without re-grouping (most rows; re-grouping made a full read 5x slower).
-- A filter on suite (or suite_id) reaches the aggregate's index through every branch (the CTE is not
-- materialised and the window partitions by suite): a suite's read costs its rows, not the warehouse's.
CREATE OR REPLACE VIEW regression_cells AS
WITH rows AS NOT MATERIALIZED (
    SELECT
        g.suite, g.suite_id, c.corpus_id, g.kind, g.size_a, g.size_rank_a, g.step_a,
        c.frequency, c.pos_t, c.pos_prev, c.n, c.mean_kl, c.ss_within
    FROM agg_regression_cells AS c
    JOIN comparison_group_info AS g ON g.group_id = c.group_id
),
cross_cells AS (
    SELECT r.*, sum(r.n * r.mean_kl) OVER cell / sum(r.n) OVER cell AS cell_mean
    FROM rows AS r
    WHERE r.kind = 'cross_size'
    WINDOW cell AS (PARTITION BY r.suite, r.suite_id, r.corpus_id, r.size_a, r.step_a, r.frequency, r.pos_t, r.pos_prev)
),
pooled AS (
    SELECT suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, frequency, pos_t, pos_prev,
           n::numeric AS n, mean_kl, ss_within
    FROM rows
    WHERE kind <> 'cross_size'
    UNION ALL
    SELECT suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, frequency, pos_t, pos_prev,
           sum(n), min(cell_mean), sum(ss_within + n * (mean_kl - cell_mean) ^ 2)
    FROM cross_cells
    GROUP BY suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, frequency, pos_t, pos_prev
)
SELECT
    p.suite,
    p.suite_id,
    co.name AS corpus,
    p.corpus_id,
    p.kind,
    p.size_a AS size,
    p.size_rank_a AS size_rank,
    p.step_a AS step,
    CASE WHEN p.frequency > 0 THEN ln(p.frequency::double precision) END AS log_frequency,
    p.frequency,
    p.pos_t,
    p.pos_prev,
    p.n,
    p.mean_kl,
    p.ss_within
FROM pooled AS p
JOIN corpus AS co ON co.corpus_id = p.corpus_id;

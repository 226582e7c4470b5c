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
-- Reads agg_regression_moments (maintained per comparison group in each unit's publish transaction). A size and
-- step has one group per kind, except cross_size (one per second size), whose groups are summed: the other kinds
-- pass through without a GROUP BY (most of the rows; re-grouping them made a full read 5x slower).
CREATE OR REPLACE VIEW regression_moments AS
WITH rows AS (
    SELECT
        g.suite, g.suite_id, m.corpus_id, g.kind, g.size_a, g.size_rank_a, g.step_a, m.pos_t, m.pos_prev,
        m.n, m.sum_lf, m.sum_lf2, m.sum_kl, m.sum_kl2, m.sum_lf_kl
    FROM agg_regression_moments AS m
    JOIN comparison_group_info AS g ON g.group_id = m.group_id
),
pooled AS (
    SELECT suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, pos_t, pos_prev,
           n, sum_lf, sum_lf2, sum_kl, sum_kl2, sum_lf_kl
    FROM rows
    WHERE kind <> 'cross_size'
    UNION ALL
    SELECT suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, pos_t, pos_prev,
           sum(n), sum(sum_lf), sum(sum_lf2), sum(sum_kl), sum(sum_kl2), sum(sum_lf_kl)
    FROM rows
    WHERE kind = 'cross_size'
    GROUP BY suite, suite_id, corpus_id, kind, size_a, size_rank_a, step_a, pos_t, pos_prev
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
    p.pos_t,
    p.pos_prev,
    p.n::numeric AS n,
    p.sum_lf,
    p.sum_lf2,
    p.sum_kl,
    p.sum_kl2,
    p.sum_lf_kl
FROM pooled AS p
JOIN corpus AS co ON co.corpus_id = p.corpus_id;

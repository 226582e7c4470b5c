-- Fallback for warehouses without the materialised regression_cells view (same columns, computed on the fly).
-- The per-step regression's aggregated design matrix (see convdiv/analysis/regression.py): rows of
-- regression_inputs with identical regressors collapse to one cell with count, mean KL and within-cell sum of
-- squares, from which the row-level OLS is recovered exactly. Rows with a zero frequency (no log) are left out.
-- params: suite, corpus, kind.  columns: step, size, size_rank, log_frequency, pos_t, pos_prev, n, mean_kl,
-- ss_within
SELECT step, size, min(size_rank) AS size_rank, log_frequency, pos_t, pos_prev,
       count(*) AS n,
       avg(kl::float8) AS mean_kl,
       coalesce(var_pop(kl::float8), 0) * count(*) AS ss_within
FROM regression_inputs
WHERE suite = %(suite)s AND corpus = %(corpus)s AND kind = %(kind)s AND log_frequency IS NOT NULL
GROUP BY step, size, log_frequency, pos_t, pos_prev

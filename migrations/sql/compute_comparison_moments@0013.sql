-- compute_comparison_moments(comparison_ids, corpus_id): per comparison, POS(t) and POS(t-1), the sufficient
-- statistics of the study's regression over the comparison's positions, computed from the facts; stored in
-- agg_comparison_moments (read through comparison_moments). Positions with a zero frequency (no log) are left out,
-- as in the regression.
--
-- Serves: the report's bootstrap over seeds of the regression coefficients, which reweights comparisons (a seed
-- pair's moments enter a replicate as often as its two seeds were drawn): read per suite from the aggregate, it
-- costs the suite's moment rows, not a scan of its pair_token rows.
-- Columns (as table agg_comparison_moments, without its surrogate key):
--   comparison_id, corpus_id, pos_t, pos_prev   the cell (NULL tags form their own cells)
--   n                  positions of the comparison in the cell with a log frequency
--   sum_lf, sum_lf2    sum of log_frequency (ln of the count, as position_features) and of its square
--   sum_kl, sum_kl2    sum of the symmetric KL (KL(p_a||p_b) + KL(p_b||p_a)) / 2 and of its square, nats
--   sum_lf_kl          sum of log_frequency * KL
CREATE OR REPLACE FUNCTION compute_comparison_moments(p_comparison_ids int[], p_corpus_id int)
RETURNS TABLE (
    comparison_id int, corpus_id smallint, pos_t text, pos_prev text, n bigint, sum_lf double precision,
    sum_lf2 double precision, sum_kl double precision, sum_kl2 double precision, sum_lf_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT
    pt.comparison_id,
    pf.corpus_id::smallint,
    pf.pos_t,
    pf.pos_prev,
    count(*),
    sum(pf.log_frequency),
    sum(pf.log_frequency ^ 2),
    sum(k.kl),
    sum(k.kl ^ 2),
    sum(pf.log_frequency * k.kl)
FROM pair_token AS pt
JOIN position_features AS pf ON pf.position_id = pt.position_id
CROSS JOIN LATERAL (SELECT (pt.kl_ab::double precision + pt.kl_ba::double precision) / 2 AS kl) AS k
-- the ids as an index condition of the scan itself (not a join the planner could turn into a full scan)
WHERE pt.comparison_id = ANY (p_comparison_ids) AND pf.corpus_id = p_corpus_id AND pf.log_frequency IS NOT NULL
GROUP BY pt.comparison_id, pf.corpus_id, pf.pos_t, pf.pos_prev
$$;

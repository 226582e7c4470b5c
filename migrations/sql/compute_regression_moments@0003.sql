-- compute_regression_moments(group_ids, corpus_id): per comparison group, POS(t) and POS(t-1), the sufficient
-- statistics of the study's regression from agg_position_kl; stored in agg_regression_moments (read through
-- regression_moments, which sums the groups of one size and step).
--
-- Columns (as table agg_regression_moments, without its surrogate key):
--   group_id, corpus_id, pos_t, pos_prev   the cell (NULL tags form their own cells)
--   n                  (comparison, position) rows with a log frequency (a count of 0 has none: left out)
--   sum_lf, sum_lf2    sum of log_frequency (ln) and of its square over those rows
--   sum_kl, sum_kl2    sum of kl and of kl^2 (per position: m2 + n * mean^2)
--   sum_lf_kl          sum of log_frequency * kl
CREATE OR REPLACE FUNCTION compute_regression_moments(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, pos_t text, pos_prev text, n bigint, sum_lf double precision,
    sum_lf2 double precision, sum_kl double precision, sum_kl2 double precision, sum_lf_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT
    pk.group_id,
    pk.corpus_id,
    pf.pos_t,
    pf.pos_prev,
    sum(pk.n_comparisons),
    sum(pk.n_comparisons * pf.log_frequency),
    sum(pk.n_comparisons * pf.log_frequency ^ 2),
    sum(pk.n_comparisons * pk.mean_kl),
    sum(pk.m2_kl + pk.n_comparisons * pk.mean_kl ^ 2),
    sum(pk.n_comparisons * pf.log_frequency * pk.mean_kl)
FROM unnest(p_group_ids) AS sel(group_id)
JOIN agg_position_kl AS pk ON pk.group_id = sel.group_id AND pk.corpus_id = p_corpus_id
JOIN position_features AS pf ON pf.position_id = pk.position_id
WHERE pf.log_frequency IS NOT NULL
GROUP BY pk.group_id, pk.corpus_id, pf.pos_t, pf.pos_prev
$$;

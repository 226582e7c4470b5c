-- compute_regression_cells(group_ids, corpus_id): per comparison group, the regression rows collapsed to cells of
-- identical regressors (frequency, POS(t), POS(t-1)): n, mean KL and the exact within-cell sum of squares, from
-- agg_position_kl; stored in agg_regression_cells (read through regression_cells, which pools the groups of one
-- size and step).
--
-- Columns (as table agg_regression_cells, without its surrogate key):
--   group_id, corpus_id, frequency, pos_t, pos_prev   the cell (NULL tags form their own cells; a count of 0 has
--                                                     no log frequency and is left out of fits, not of the cells)
--   n            (comparison, position) rows in the cell
--   mean_kl      mean of their kl, nats
--   ss_within    sum over the cell's rows of (kl - mean_kl)^2: each position's m2_kl + n_x (mean_x - mean)^2
--                (the exact pooled sum of squares, Chan et al. 1979)
CREATE OR REPLACE FUNCTION compute_regression_cells(p_group_ids int[], p_corpus_id int)
RETURNS TABLE (
    group_id int, corpus_id smallint, frequency bigint, pos_t text, pos_prev text, n bigint, mean_kl double precision,
    ss_within double precision
)
LANGUAGE sql STABLE
AS $$
WITH cells AS (
    SELECT
        pk.group_id, pk.corpus_id, p.frequency, p.pos_t, p.pos_prev, pk.n_comparisons, pk.mean_kl, pk.m2_kl,
        sum(pk.n_comparisons * pk.mean_kl) OVER cell / sum(pk.n_comparisons) OVER cell AS cell_mean
    FROM agg_position_kl AS pk
    JOIN position AS p ON p.position_id = pk.position_id
    WHERE pk.group_id = ANY (p_group_ids) AND pk.corpus_id = p_corpus_id
    WINDOW cell AS (PARTITION BY pk.group_id, p.frequency, p.pos_t, p.pos_prev)
)
SELECT group_id, corpus_id, frequency, pos_t, pos_prev, sum(n_comparisons), min(cell_mean),
       sum(m2_kl + n_comparisons * (mean_kl - cell_mean) ^ 2)
FROM cells
GROUP BY group_id, corpus_id, frequency, pos_t, pos_prev
$$;

-- compute_comparison_regression_sums(suite_id): per comparison of one suite, the right-hand side X'y of the
-- study's regression split by POS(t) and by POS(t-1), summed from agg_comparison_moments (no fact scan); the view
-- comparison_regression_sums calls it once per suite.
--
-- Serves: the report's interval over seeds of the regression coefficients (convdiv.analysis.regression): leaving a
-- seed out removes its comparisons' X'y, which these sums give per comparison; X'X needs no per-comparison rows
-- (every comparison of a size and step covers the same positions, so its X'X is that of the size's rows divided by
-- their number of comparisons).
-- Why a function: grouped per comparison inside a view, the suite filter could not reach the aggregate before the
-- grouping (a read of one suite grouped every suite's rows, or sorted them on every output column: 20 s at paper
-- scale); restricted to the suite's comparisons first, one hashed grouping costs about 1.5 s there.
-- Columns:
--   comparison_id, corpus_id
--   factor      'pos_t' or 'pos_prev': which tag the row sums over
--   level       the tag (NULL: positions without one, the regression's level NONE)
--   n           positions of the comparison with that tag and a log frequency
--   sum_kl      sum of the symmetric KL over them, nats
--   sum_lf_kl   sum of ln(frequency) * KL over them
CREATE OR REPLACE FUNCTION compute_comparison_regression_sums(p_suite_id int)
RETURNS TABLE (
    comparison_id int, corpus_id smallint, factor text, level text, n bigint, sum_kl double precision,
    sum_lf_kl double precision
)
LANGUAGE sql STABLE
AS $$
SELECT
    m.comparison_id,
    m.corpus_id,
    CASE WHEN grouping(m.pos_t) = 0 THEN 'pos_t' ELSE 'pos_prev' END AS factor,
    CASE WHEN grouping(m.pos_t) = 0 THEN m.pos_t ELSE m.pos_prev END AS level,
    sum(m.n)::bigint,
    sum(m.sum_kl),
    sum(m.sum_lf_kl)
FROM agg_comparison_moments AS m
WHERE m.comparison_id = ANY (ARRAY(
    SELECT cmp.comparison_id
    FROM comparison AS cmp
    JOIN checkpoint AS c ON c.checkpoint_id = cmp.checkpoint_a
    JOIN run AS r ON r.run_id = c.run_id
    JOIN model AS md ON md.model_id = r.model_id
    WHERE md.suite_id = p_suite_id
))
GROUP BY GROUPING SETS ((m.comparison_id, m.corpus_id, m.pos_t), (m.comparison_id, m.corpus_id, m.pos_prev))
$$;

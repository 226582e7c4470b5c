-- comparison_moments: the regression's sufficient statistics per comparison and (POS(t), POS(t-1)) group;
-- regression_moments holds the same sums added over the comparisons of a (size, step). Positions with a zero
-- frequency (no log) are left out, as in the regression.
--
-- Serves: the report's bootstrap over seeds of the regression coefficients (it reweights comparisons). Reads
-- agg_comparison_moments (maintained per comparison in each unit's publish transaction since migration 0013;
-- before, every read scanned the comparisons' pair_token rows): one suite's read costs its own rows.
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind
--   comparison_id, seed_a, seed_b   the comparison and its two seeds
--   size, step                      checkpoint a's size and step
--   pos_t, pos_prev                 the group (NULL tags form their own group)
--   n                               positions in the group
--   sum_lf, sum_lf2                 sums of log_frequency (ln of the count, as position_features) and of its square
--   sum_kl, sum_kl2                 sums of the symmetric KL and of its square
--   sum_lf_kl                       sum of log_frequency times KL
CREATE OR REPLACE VIEW comparison_moments AS
SELECT ci.suite,
       ci.suite_id,
       co.name AS corpus,
       m.corpus_id,
       ci.kind,
       ci.comparison_id,
       ci.seed_a,
       ci.seed_b,
       ci.size_a AS size,
       ci.step_a AS step,
       m.pos_t,
       m.pos_prev,
       m.n,
       m.sum_lf,
       m.sum_lf2,
       m.sum_kl,
       m.sum_kl2,
       m.sum_lf_kl
FROM agg_comparison_moments AS m
JOIN comparison_info AS ci ON ci.comparison_id = m.comparison_id
JOIN corpus AS co ON co.corpus_id = m.corpus_id;

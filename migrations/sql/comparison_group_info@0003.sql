-- comparison_group_info: every comparison group (the comparisons the analyses average together) with its suite,
-- sizes and steps, and comparison_group_member: which comparisons belong to which group.
--
-- Serves: the analysis views over the per-group aggregates (conditional_kl, position_kl, context_variance,
-- token_divergence, regression_cells, regression_moments) and the maintenance functions (sql/03x, sql/06x).
-- Columns:
--   group_id                  the group (table comparison_group)
--   kind                      seed_pair, consecutive_step or cross_size
--   suite, suite_id           the suite of the group's models
--   model_a, model_b          model sizes of checkpoints a and b (equal except for cross_size)
--   size_a, size_b, size_rank_a, size_rank_b   their size labels and ranks
--   step_a, step_b            steps of checkpoints a and b (equal except for consecutive_step: t1 -> t2)
CREATE OR REPLACE VIEW comparison_group_info AS
SELECT
    g.group_id,
    g.kind,
    s.name AS suite,
    s.suite_id,
    g.model_a,
    g.model_b,
    ma.size AS size_a,
    mb.size AS size_b,
    ma.size_rank AS size_rank_a,
    mb.size_rank AS size_rank_b,
    g.step_a,
    g.step_b
FROM comparison_group AS g
JOIN model AS ma ON ma.model_id = g.model_a
JOIN model AS mb ON mb.model_id = g.model_b
JOIN suite AS s ON s.suite_id = ma.suite_id;

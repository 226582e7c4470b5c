-- comparison_info: a comparison of two checkpoints a and b with both sides' size, seed and step.
--
-- Serves: every pair view (pair_records, expected_kl, conditional_kl, ..., regression_inputs).
-- Columns:
--   comparison_id, kind        kind: seed_pair (same size and step, two seeds), consecutive_step (same run, step_a
--                              -> the next step step_b), cross_size (same seed and step, size_a vs size_b)
--   suite_id, suite            the suite of checkpoint a (comparisons never cross suites)
--   checkpoint_a, checkpoint_b the two checkpoints (p_a and p_b)
--   model_a, model_b           their model keys
--   size_a, size_b, size_rank_a, size_rank_b, seed_a, seed_b, step_a, step_b   their size, seed and step
CREATE OR REPLACE VIEW comparison_info AS
SELECT
    cmp.comparison_id,
    cmp.kind,
    a.suite_id,
    a.suite,
    cmp.checkpoint_a,
    cmp.checkpoint_b,
    a.model_id AS model_a,
    b.model_id AS model_b,
    a.size AS size_a,
    b.size AS size_b,
    a.size_rank AS size_rank_a,
    b.size_rank AS size_rank_b,
    a.seed AS seed_a,
    b.seed AS seed_b,
    a.step AS step_a,
    b.step AS step_b
FROM comparison AS cmp
JOIN checkpoint_info AS a ON a.checkpoint_id = cmp.checkpoint_a
JOIN checkpoint_info AS b ON b.checkpoint_id = cmp.checkpoint_b;

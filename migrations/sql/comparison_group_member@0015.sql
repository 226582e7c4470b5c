-- comparison_group_member: each comparison with the comparison group it belongs to (same kind, model sizes and
-- steps). A comparison registered but not yet published has a group only once a publish created it.
--
-- Written over the base tables, each join on one of their keys (not over comparison_info, whose sizes and steps
-- come out of joins): the aggregate maintenance asks for the members of a unit's few groups, and this form lets
-- the planner walk group -> runs -> checkpoints -> comparisons through indexes, where the 0003 form joined every
-- comparison of the warehouse (hash joins that grew with it: 40 ms per lookup at 24k comparisons). Same rows.
--
-- Columns:
--   comparison_id, group_id, kind, checkpoint_a, checkpoint_b
CREATE OR REPLACE VIEW comparison_group_member AS
SELECT
    cmp.comparison_id,
    g.group_id,
    cmp.kind,
    cmp.checkpoint_a,
    cmp.checkpoint_b
FROM comparison_group AS g
JOIN run AS ra ON ra.model_id = g.model_a
JOIN checkpoint AS ca ON ca.run_id = ra.run_id AND ca.step = g.step_a
JOIN comparison AS cmp ON cmp.kind = g.kind AND cmp.checkpoint_a = ca.checkpoint_id
JOIN checkpoint AS cb ON cb.checkpoint_id = cmp.checkpoint_b AND cb.step = g.step_b
JOIN run AS rb ON rb.run_id = cb.run_id AND rb.model_id = g.model_b;

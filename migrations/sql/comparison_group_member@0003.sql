-- comparison_group_member: each comparison with the comparison group it belongs to (same kind, model sizes and
-- steps). A comparison registered but not yet published has a group only once a publish created it.
--
-- Columns:
--   comparison_id, group_id, kind, checkpoint_a, checkpoint_b
CREATE OR REPLACE VIEW comparison_group_member AS
SELECT
    ci.comparison_id,
    g.group_id,
    ci.kind,
    ci.checkpoint_a,
    ci.checkpoint_b
FROM comparison_info AS ci
JOIN comparison_group AS g
    ON g.kind = ci.kind AND g.model_a = ci.model_a AND g.model_b = ci.model_b
    AND g.step_a = ci.step_a AND g.step_b = ci.step_b;

-- comparison rows whose checkpoint a belongs to the selected suites (%(suite_ids)s); both checkpoints of a
-- comparison are always of one suite.
SELECT *
FROM comparison
WHERE checkpoint_a IN (SELECT c.checkpoint_id FROM checkpoint c JOIN run r USING (run_id) JOIN model m USING (model_id)
                       WHERE m.suite_id = ANY(%(suite_ids)s))

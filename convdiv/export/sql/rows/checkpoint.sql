-- checkpoint rows of the selected suites (%(suite_ids)s).
SELECT *
FROM checkpoint
WHERE run_id IN (SELECT r.run_id FROM run r JOIN model m USING (model_id) WHERE m.suite_id = ANY(%(suite_ids)s))

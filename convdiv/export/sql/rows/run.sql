-- run rows (size x seed) of the selected suites (%(suite_ids)s).
SELECT * FROM run WHERE model_id IN (SELECT model_id FROM model WHERE suite_id = ANY(%(suite_ids)s))

-- model rows (sizes) of the selected suites (%(suite_ids)s).
SELECT * FROM model WHERE suite_id = ANY(%(suite_ids)s)

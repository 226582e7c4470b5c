-- suite rows of the selected suites (%(suite_ids)s).
SELECT * FROM suite WHERE suite_id = ANY(%(suite_ids)s)

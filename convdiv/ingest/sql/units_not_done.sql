-- How many of the given units are not done yet (--cache-policy evict deletes a checkpoint's files at 0).
SELECT count(*) FROM ingest_unit WHERE unit_id = ANY(%(unit_ids)s::int[]) AND status <> 'done';

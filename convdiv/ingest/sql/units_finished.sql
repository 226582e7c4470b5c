-- Units among `unit_ids` finished (done or failed) since `since`: the progress of worker processes, from the ledger.
SELECT unit_id, status
FROM ingest_unit
WHERE unit_id = ANY(%(unit_ids)s) AND status IN ('done', 'failed') AND finished_at >= %(since)s

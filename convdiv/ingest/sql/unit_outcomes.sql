-- The ledger state of a call's units with the run that last held each (its status and "host:pid"): what the
-- summary counts (done here, done by other workers, failed, still running) and what a waiting ingest names.
SELECT u.unit_id, u.status, u.config_hash, u.finished_at, u.ingest_run_id, r.status, r.host
FROM ingest_unit u
LEFT JOIN ingest_run r ON r.ingest_run_id = u.ingest_run_id
WHERE u.unit_id = ANY(%(unit_ids)s)

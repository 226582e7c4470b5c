-- The ingest run a worker process of this machine registered ("hostname:pid"), to account for one that died.
SELECT ingest_run_id FROM ingest_run WHERE host = %(host)s ORDER BY ingest_run_id DESC LIMIT 1

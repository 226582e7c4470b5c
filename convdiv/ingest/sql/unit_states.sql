-- The ledger state of a call's units (`unit_ids`), to split them into the ones to do and the ones already done.
SELECT unit_id, status, config_hash, finished_at FROM ingest_unit WHERE unit_id = ANY(%(unit_ids)s)

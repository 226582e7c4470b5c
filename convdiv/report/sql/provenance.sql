-- Ingest provenance of (suite, corpus): one row per ingest run that touched it.
-- params: suite, corpus.
-- columns: ingest_run_id, convdiv_version, host, started_at, finished_at, run_status, units, units_done,
--          units_failed, devices, dtypes, rows_checkpoint_token, rows_pair_token, elapsed_s
SELECT ir.ingest_run_id, ir.convdiv_version, ir.host, ir.started_at, ir.finished_at, ir.status AS run_status,
       count(*) AS units,
       count(*) FILTER (WHERE u.status = 'done') AS units_done,
       count(*) FILTER (WHERE u.status = 'failed') AS units_failed,
       string_agg(DISTINCT u.device, ', ') AS devices,
       string_agg(DISTINCT u.dtype, ', ') AS dtypes,
       sum(u.rows_checkpoint_token) AS rows_checkpoint_token,
       sum(u.rows_pair_token) AS rows_pair_token,
       sum(u.elapsed_s) AS elapsed_s
FROM ingest_unit u
JOIN suite s ON s.suite_id = u.suite_id
JOIN corpus c ON c.corpus_id = u.corpus_id
LEFT JOIN ingest_run ir ON ir.ingest_run_id = u.ingest_run_id
WHERE s.name = %(suite)s AND c.name = %(corpus)s
GROUP BY ir.ingest_run_id, ir.convdiv_version, ir.host, ir.started_at, ir.finished_at, ir.status
ORDER BY ir.started_at NULLS LAST

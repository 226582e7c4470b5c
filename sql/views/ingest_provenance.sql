-- ingest_provenance: one row per ingest run that touched a (suite, corpus), from the ingest ledger: who computed
-- the measurements, with which code, on which devices.
--
-- Serves: the report's Overview (provenance); audits of a warehouse.
-- Columns:
--   suite, suite_id, corpus, corpus_id
--   ingest_run_id, convdiv_version, host, started_at, finished_at   the run (NULL for units no run claimed yet)
--   run_status            running, done, failed or aborted
--   units, units_done, units_failed   its units on the pair
--   devices, dtypes       forward-pass devices and dtypes of those units (comma-separated)
--   rows_checkpoint_token, rows_pair_token   fact rows they loaded
--   elapsed_s             their summed wall-clock seconds (compute and load)
CREATE OR REPLACE VIEW ingest_provenance AS
SELECT s.name AS suite,
       s.suite_id,
       c.name AS corpus,
       c.corpus_id,
       ir.ingest_run_id,
       ir.convdiv_version,
       ir.host,
       ir.started_at,
       ir.finished_at,
       ir.status AS run_status,
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
GROUP BY s.name, s.suite_id, c.name, c.corpus_id, ir.ingest_run_id, ir.convdiv_version, ir.host, ir.started_at,
         ir.finished_at, ir.status;

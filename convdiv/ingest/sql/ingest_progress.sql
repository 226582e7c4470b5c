-- Progress of the ingest started at `since` on corpus `corpus`, from the ledger (read by `convdiv ingest` when its
-- progress goes to a log). done: units of that corpus finished (done or failed) since then; total: those plus the
-- units still pending or running; running: units being computed now (a work group publishes its units together,
-- so done moves in steps). Units done before the start (skipped) count in none.
SELECT count(*) FILTER (WHERE u.status IN ('done', 'failed') AND u.finished_at >= %(since)s) AS done,
       count(*) FILTER (WHERE u.status = 'running') AS running,
       count(*) FILTER (WHERE u.status IN ('pending', 'running')
                           OR (u.status IN ('done', 'failed') AND u.finished_at >= %(since)s)) AS total
FROM ingest_unit u
JOIN corpus c USING (corpus_id)
WHERE c.name = %(corpus)s

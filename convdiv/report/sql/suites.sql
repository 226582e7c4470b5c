-- Suites and corpora that have measurements, with how much of each is ingested.
-- One row per (suite, corpus) that has at least one ledger unit, plus suites/corpora with none (NULL partner).
-- columns: suite, corpus, units_done, units_other (pending/running/failed), checkpoints_with_data
SELECT s.name AS suite,
       c.name AS corpus,
       count(*) FILTER (WHERE u.status = 'done') AS units_done,
       count(*) FILTER (WHERE u.status <> 'done') AS units_other
FROM suite s
LEFT JOIN ingest_unit u ON u.suite_id = s.suite_id
LEFT JOIN corpus c ON c.corpus_id = u.corpus_id
GROUP BY s.name, c.name
ORDER BY units_done DESC, s.name, c.name

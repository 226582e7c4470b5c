-- ingest_coverage: how much of each (suite, corpus) is ingested, from the ingest ledger. One row per pair with at
-- least one unit, plus one row (corpus NULL) per suite with none.
--
-- Serves: the report's choice of suite and corpus when none is given (the most ingested pair).
-- Columns:
--   suite, suite_id, corpus, corpus_id
--   units_done            units whose facts are published
--   units_other           units pending, running or failed
CREATE OR REPLACE VIEW ingest_coverage AS
SELECT s.name AS suite,
       s.suite_id,
       c.name AS corpus,
       c.corpus_id,
       count(u.unit_id) FILTER (WHERE u.status = 'done') AS units_done,
       count(u.unit_id) FILTER (WHERE u.status <> 'done') AS units_other
FROM suite s
LEFT JOIN ingest_unit u ON u.suite_id = s.suite_id
LEFT JOIN corpus c ON c.corpus_id = u.corpus_id
GROUP BY s.name, s.suite_id, c.name, c.corpus_id;

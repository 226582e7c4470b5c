-- The suites and corpora an export covers, and the (suite, corpus) pairs with facts (at least one ingest unit
-- done). %(suites)s / %(corpora)s are name arrays; NULL = all. Read by convdiv/export/parquet.py.
SELECT 'suite' AS what, suite_id AS suite_id, NULL::smallint AS corpus_id, name AS suite, NULL AS corpus
FROM suite WHERE %(suites)s::text[] IS NULL OR name = ANY(%(suites)s)
UNION ALL
SELECT 'corpus', NULL, corpus_id, NULL, name
FROM corpus WHERE %(corpora)s::text[] IS NULL OR name = ANY(%(corpora)s)
UNION ALL
SELECT DISTINCT 'pair', s.suite_id, c.corpus_id, s.name, c.name
FROM ingest_unit u
JOIN suite s USING (suite_id)
JOIN corpus c USING (corpus_id)
WHERE u.status = 'done'
  AND (%(suites)s::text[] IS NULL OR s.name = ANY(%(suites)s))
  AND (%(corpora)s::text[] IS NULL OR c.name = ANY(%(corpora)s))

-- The corpus an ingest evaluates on, found by its name in one lookup (`convdiv ingest --corpus`): always one row.
-- corpus_id is NULL when no corpus has that name; `known` then lists the loaded corpora for the refusal.
-- tokenizer_sha256 and vocab_size must match the suite's tokenizer; content_sha256 enters every unit's
-- configuration hash; options holds the window a corpus was added with (context_length, stride).
SELECT c.corpus_id, c.tokenizer_sha256, c.vocab_size, c.content_sha256, c.options,
       ARRAY(SELECT name FROM corpus ORDER BY name) AS known
FROM (SELECT 1) AS one
LEFT JOIN corpus c ON c.name = %(name)s

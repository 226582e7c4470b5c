-- What a worker reads of its corpus (convdiv/ingest/corpus_data.py), as binary COPY sources.
-- Each query starts with a line `-- name: <name>`; placeholders are psycopg's %(name)s (convdiv.warehouse.queries).

-- name: corpus_positions
-- Binary COPY source: one row per position in (document, idx) order, the order of the extract engine's rows.
SELECT position_id, document, idx, context_token_id, target_token_id
FROM position WHERE corpus_id = %(corpus_id)s ORDER BY document, idx

-- name: corpus_log_unigram
SELECT token_id, unigram_logprob::float8 FROM vocab_token WHERE corpus_id = %(corpus_id)s ORDER BY token_id

-- Remove a corpus; vocab_token, position, ingest_unit and every fact on its positions cascade.
DELETE FROM corpus WHERE corpus_id = %(corpus_id)s

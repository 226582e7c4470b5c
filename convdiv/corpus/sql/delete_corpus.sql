-- Remove a corpus; vocab_token, position, ingest_unit and the aggregates cascade (its facts go with its partitions
-- of checkpoint_token and pair_token, dropped at the end of the same transaction).
DELETE FROM corpus WHERE corpus_id = %(corpus_id)s

-- Named queries of the synthetic warehouses' writers (convdiv/testing/writers.py): rows put where an ingest
-- would put them, for tests and benches. Each query starts with a line `-- name: <name>`; placeholders are
-- psycopg's %(name)s. Everything here runs on a psycopg cursor, in the caller's transaction.

-- ------------------------------------------------------------------------------------------ dimensions

-- name: insert_suite
-- A suite as registration would write it (no origin: synthetic suites are never re-registered).
INSERT INTO suite (name, source, tokenizer, tokenizer_sha256, spec)
VALUES (%(name)s, %(source)s, %(tokenizer)s, %(tokenizer_sha256)s, %(spec)s)
RETURNING suite_id;

-- name: insert_corpus
-- A corpus row as `corpus add` would write it, in the columns every revision has (the benches also build at
-- 0010); its vocabulary and positions follow by COPY.
INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions,
                    spacy_model, frequency_source, options)
VALUES (%(name)s, %(tokenizer)s, %(tokenizer_sha256)s, %(vocab_size)s, %(content_sha256)s, %(n_documents)s,
        %(n_positions)s, %(spacy_model)s, %(frequency_source)s, '{}')
RETURNING corpus_id;

-- name: insert_corpus_with_words
-- The same with the hash of its words (corpus_word, since migration 0022).
INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions,
                    spacy_model, frequency_source, options, words_sha256)
VALUES (%(name)s, %(tokenizer)s, %(tokenizer_sha256)s, %(vocab_size)s, %(content_sha256)s, %(n_documents)s,
        %(n_positions)s, %(spacy_model)s, %(frequency_source)s, '{}', %(words_sha256)s)
RETURNING corpus_id;

-- name: copy_vocab_token
-- The corpus's vocabulary, one row per token id (text rows).
COPY vocab_token (corpus_id, token_id, token, frequency, unigram_logprob) FROM STDIN;

-- name: copy_position
-- The corpus's positions in (document, idx) order (text rows): position ids are assigned in this order.
COPY position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, pos_prev, upos_t, upos_prev,
               group_t, group_prev, begin_of_word, end_of_word, frequency, word) FROM STDIN;

-- name: copy_position_tags
-- The same without Universal POS and words: the columns every revision from 0010 on has (bench/partitions.py
-- builds at 0010).
COPY position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, pos_prev, group_t, group_prev,
               begin_of_word, end_of_word, frequency) FROM STDIN;

-- name: copy_corpus_word
-- The corpus's words (character spans of each document; text rows).
COPY corpus_word (corpus_id, document, word, start_char, end_char, n_tokens, text) FROM STDIN;

-- name: position_ids
-- The corpus's position ids in the order they were written (COPY order: document, idx).
SELECT position_id FROM position WHERE corpus_id = %(corpus_id)s ORDER BY position_id;

-- name: insert_model
INSERT INTO model (suite_id, size, size_rank, n_params)
VALUES (%(suite_id)s, %(size)s, %(size_rank)s, %(n_params)s)
RETURNING model_id;

-- name: insert_run
INSERT INTO run (model_id, seed, source) VALUES (%(model_id)s, %(seed)s, %(source)s) RETURNING run_id;

-- name: insert_checkpoint
-- No Hub revision: synthetic checkpoints were never downloaded.
INSERT INTO checkpoint (run_id, step, revision, weights_sha256)
VALUES (%(run_id)s, %(step)s, NULL, %(weights_sha256)s)
RETURNING checkpoint_id;

-- name: insert_comparison
INSERT INTO comparison (kind, checkpoint_a, checkpoint_b)
VALUES (%(kind)s, %(checkpoint_a)s, %(checkpoint_b)s)
RETURNING comparison_id;

-- ------------------------------------------------------------------------------------------ hand-made facts

-- name: insert_position
-- One hand-made position of document 0 (the curve warehouse): context token 1, target token 2, a noun after a
-- determiner, a whole word; its frequency given.
INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, pos_prev, begin_of_word,
                      end_of_word, frequency)
VALUES (%(corpus_id)s, 0, %(idx)s, 1, 2, 'NN', 'DT', true, true, %(frequency)s)
RETURNING position_id;

-- name: insert_checkpoint_token
-- One hand-made checkpoint_token row: CE 5 and entropy 1 (the curve warehouse's views do not read them).
INSERT INTO checkpoint_token (checkpoint_id, position_id, ce, entropy, kl_uniform, kl_unigram)
VALUES (%(checkpoint_id)s, %(position_id)s, 5.0, 1.0, %(kl_uniform)s, %(kl_unigram)s);

-- name: insert_pair_token
-- One hand-made pair_token row, the same KL in both directions.
INSERT INTO pair_token (comparison_id, position_id, kl_ab, kl_ba)
VALUES (%(comparison_id)s, %(position_id)s, %(kl)s, %(kl)s);

-- ------------------------------------------------------------------------------------------ ledger

-- name: insert_ingest_run
-- The one finished ingest run that the synthetic units belong to.
INSERT INTO ingest_run (convdiv_version, host, arguments, status, finished_at)
VALUES ('synthetic', 'synthetic:0', '{}', 'done', now())
RETURNING ingest_run_id;

-- name: insert_ingest_unit
-- One finished ledger unit (done or failed) as a worker would leave it, with its checkpoint_token row count.
INSERT INTO ingest_unit (suite_id, corpus_id, unit_key, status, ingest_run_id, code_version, device, dtype,
                         batch_tokens, rows_checkpoint_token, rows_pair_token, elapsed_s, claimed_at, finished_at)
VALUES (%(suite_id)s, %(corpus_id)s, %(unit_key)s, %(status)s, %(ingest_run_id)s, 'synthetic', 'cpu', 'float32',
        8192, %(rows_checkpoint_token)s, 0, 0.1, now(), now());

-- The tokenizer's vocabulary as seen by one corpus (convdiv/corpus/load.py: copy_vocab), in psycopg's binary COPY
-- (set_types + write_row): one row per token id with its text, frequency and smoothed unigram log-probability.
COPY vocab_token (corpus_id, token_id, token, frequency, unigram_logprob) FROM STDIN (FORMAT BINARY)

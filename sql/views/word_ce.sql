-- word_ce: mean word-level surprisal per checkpoint and corpus, over the corpus's complete words (word_surprisal).
--
-- The CE curve by word: comparable across tokenizers of the same documents (corpora with equal segmentation),
-- where the token CE is not (a tokenizer with longer tokens has fewer, harder tokens). Only complete words count
-- (every token predicted); n_incomplete says how many were left out (the first word of each document when the
-- corpus has no BOS). No rows for corpora added before migration 0022 (no word segmentation: see word_surprisal).
-- Serves: the report's word-CE section (convdiv/report/sections/word_ce.py), which draws one curve per suite of
-- every corpus with the report corpus's segmentation.
-- Columns:
--   suite, suite_id, size, size_rank, seed, step, checkpoint_id   the checkpoint
--   corpus, corpus_id, tokenizer_sha256, segmentation              the corpus (see word_surprisal)
--   n_words           complete words
--   n_tokens          their predicted tokens
--   mean_word_ce      mean over complete words of the word's surprisal, nats per word
--   mean_token_ce     the same surprisal per token: sum of surprisal / n_tokens (depends on the tokenizer)
--   tokens_per_word   n_tokens / n_words
--   n_incomplete      words left out because not all of their tokens were predicted
CREATE OR REPLACE VIEW word_ce AS
SELECT
    suite,
    suite_id,
    size,
    size_rank,
    seed,
    step,
    checkpoint_id,
    corpus,
    corpus_id,
    tokenizer_sha256,
    segmentation,
    count(*) FILTER (WHERE complete)::integer AS n_words,
    sum(n_tokens) FILTER (WHERE complete)::bigint AS n_tokens,
    avg(surprisal) FILTER (WHERE complete) AS mean_word_ce,
    sum(surprisal) FILTER (WHERE complete) / nullif(sum(n_tokens) FILTER (WHERE complete), 0) AS mean_token_ce,
    (sum(n_tokens) FILTER (WHERE complete))::double precision
        / nullif(count(*) FILTER (WHERE complete), 0) AS tokens_per_word,
    count(*) FILTER (WHERE NOT complete)::integer AS n_incomplete
FROM word_surprisal
GROUP BY suite, suite_id, size, size_rank, seed, step, checkpoint_id, corpus, corpus_id, tokenizer_sha256,
    segmentation;

-- token_records: the flat per-token record analysts think in, one row per (checkpoint, position).
--
-- Serves: ad-hoc questions about single tokens and checkpoints ("what is the surprisal of ' the' at step 512?").
-- Not materialised: it is a join of checkpoint_token (float4 facts) with the small dimensions; filter it by suite,
-- size, seed or step (checkpoint_token's key leads with checkpoint_id, so a checkpoint's rows are one index range).
-- Columns:
--   suite, suite_id, size, size_rank, seed, step, checkpoint_id     the checkpoint (see checkpoint_info)
--   position_id, corpus, corpus_id, document, idx                    the position x (see position_features)
--   token_id, token, context_token_id                                w(x+1) predicted from context ending in w(x)
--   pos_t, pos_prev, upos_t, upos_prev, group_t, group_prev          POS(t), POS(t-1), coarse forms
--   frequency, log_frequency, frequency_bin, frequency_bin_order     frequency of w(x+1) (see position_features)
--   begin_of_word, end_of_word                                       word-boundary flags of w(x+1)
--   ce          surprisal -log p(w(x+1)) in nats
--   entropy     H(p) of the predicted distribution, nats
--   kl_uniform  KL(p || uniform) = log|V| - H(p), nats
--   kl_unigram  KL(p || q), q = the corpus's smoothed unigram, nats
CREATE OR REPLACE VIEW token_records AS
SELECT
    ci.suite,
    ci.suite_id,
    ci.size,
    ci.size_rank,
    ci.seed,
    ci.step,
    ct.checkpoint_id,
    ct.position_id,
    pf.corpus,
    pf.corpus_id,
    pf.document,
    pf.idx,
    pf.token_id,
    pf.token,
    pf.context_token_id,
    pf.pos_t,
    pf.pos_prev,
    pf.upos_t,
    pf.upos_prev,
    pf.group_t,
    pf.group_prev,
    pf.frequency,
    pf.log_frequency,
    pf.frequency_bin,
    pf.frequency_bin_order,
    pf.begin_of_word,
    pf.end_of_word,
    ct.ce,
    ct.entropy,
    ct.kl_uniform,
    ct.kl_unigram
FROM checkpoint_token AS ct
JOIN checkpoint_info AS ci ON ci.checkpoint_id = ct.checkpoint_id
JOIN position_features AS pf ON pf.position_id = ct.position_id;

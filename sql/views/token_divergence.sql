-- token_divergence: per suite, corpus, kind, size, step and predicted token, how much the checkpoints disagree on
-- the positions that predict this token: the tokens that diverge least and most.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b   as in expected_kl
--   token_id, token     the predicted token w(x+1) and its text
--   occurrences         positions of the corpus that predict this token
--   n_comparisons       comparisons per position (seed pairs: S (S - 1) / 2; the largest, if unequal)
--   mean_kl             mean over all (comparison, position) rows of the token of (KL(p_a||p_b) + KL(p_b||p_a)) / 2
--                       (pooled; equals the mean over comparisons when every comparison covers the corpus)
--   mean_ce             mean CE of the token over the checkpoints of checkpoint a's size and step (all seeds that
--                       have rows) and its occurrences, nats
-- Reads agg_token_kl (KL) and agg_token_ce (CE), both maintained in each unit's publish transaction.
CREATE OR REPLACE VIEW token_divergence AS
SELECT
    g.suite,
    g.suite_id,
    co.name AS corpus,
    tk.corpus_id,
    g.kind,
    g.size_a AS size,
    g.size_rank_a AS size_rank,
    g.size_b,
    g.step_a AS step,
    g.step_b,
    tk.token_id,
    vt.token,
    tk.occurrences,
    tk.n_comparisons,
    tk.mean_kl,
    tc.mean_ce
FROM agg_token_kl AS tk
JOIN comparison_group_info AS g ON g.group_id = tk.group_id
JOIN corpus AS co ON co.corpus_id = tk.corpus_id
LEFT JOIN vocab_token AS vt ON vt.corpus_id = tk.corpus_id AND vt.token_id = tk.token_id
LEFT JOIN agg_token_ce AS tc
    ON tc.model_id = g.model_a AND tc.step = g.step_a AND tc.corpus_id = tk.corpus_id AND tc.token_id = tk.token_id;

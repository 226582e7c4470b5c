-- comparison_kl: per comparison, its mean KL over all positions and over the positions of each category, with
-- both checkpoints' size, seed and step: the per-comparison values that expected_kl and conditional_kl average.
--
-- Serves: the report's bootstrap over seeds of E[KL] and sigma (convdiv/analysis/bootstrap.py); analysts who want
-- the spread behind a mean. Reads the aggregate table comparison_stats (no fact scan).
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind
--   comparison_id                   the comparison of checkpoints a and b
--   size, size_rank, seed_a, step   checkpoint a's size, seed and step
--   size_b, seed_b, step_b          checkpoint b's
--   family, category                as in conditional_kl ('all' / 'all' for every position)
--   n_positions                     positions of the comparison in the category
--   mean_kl                         mean over them of (KL(p_a || p_b) + KL(p_b || p_a)) / 2, nats
CREATE OR REPLACE VIEW comparison_kl AS
SELECT ci.suite,
       ci.suite_id,
       co.name AS corpus,
       cs.corpus_id,
       ci.kind,
       cs.comparison_id,
       ci.size_a AS size,
       ci.size_rank_a AS size_rank,
       ci.seed_a,
       ci.step_a AS step,
       ci.size_b,
       ci.seed_b,
       ci.step_b,
       cs.family,
       cs.category,
       cs.n_positions,
       cs.mean_kl
FROM comparison_stats cs
JOIN comparison_info ci ON ci.comparison_id = cs.comparison_id
JOIN corpus co ON co.corpus_id = cs.corpus_id;

-- checkpoint_coverage: every registered checkpoint of a suite, for every corpus, with whether it has measurements
-- on that corpus.
--
-- Serves: the report's Overview (coverage grid, holes in the grid).
-- Columns:
--   suite, suite_id, corpus, corpus_id
--   size, size_rank, seed, step     the checkpoint's size, seed and step
--   checkpoint_id                   the checkpoint
--   revision                        its Hub revision (e.g. 'step512') or local folder name
--   weights_sha256                  fingerprint of its weights
--   has_data                        its facts on the corpus are published (it has per-checkpoint aggregates there,
--                                   written in the same transaction as the facts)
CREATE OR REPLACE VIEW checkpoint_coverage AS
SELECT ci.suite,
       ci.suite_id,
       co.name AS corpus,
       co.corpus_id,
       ci.size,
       ci.size_rank,
       ci.seed,
       ci.step,
       ci.checkpoint_id,
       ck.revision,
       ck.weights_sha256,
       EXISTS (SELECT 1 FROM checkpoint_stats cs
               WHERE cs.checkpoint_id = ci.checkpoint_id AND cs.corpus_id = co.corpus_id) AS has_data
FROM checkpoint_info ci
JOIN checkpoint ck ON ck.checkpoint_id = ci.checkpoint_id
CROSS JOIN corpus co;

-- pair_token rows of one (suite, corpus) partition: comparisons of the suite's checkpoints (%(suite_id)s) on the
-- corpus's positions (%(corpus_id)s).
SELECT *
FROM pair_token
WHERE comparison_id IN (SELECT k.comparison_id FROM comparison k JOIN checkpoint c ON c.checkpoint_id = k.checkpoint_a
                        JOIN run r USING (run_id) JOIN model m USING (model_id) WHERE m.suite_id = %(suite_id)s)
  AND position_id IN (SELECT position_id FROM position WHERE corpus_id = %(corpus_id)s)
  -- the corpus's position range as a condition on the partition key: only the corpus's partition is read
  AND position_id >= (SELECT min(position_id) FROM position WHERE corpus_id = %(corpus_id)s)
  AND position_id <= (SELECT max(position_id) FROM position WHERE corpus_id = %(corpus_id)s)

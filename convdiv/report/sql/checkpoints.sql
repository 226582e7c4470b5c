-- Every checkpoint of a suite with whether it has measurements on the corpus (the Overview's coverage grid).
-- params: suite, corpus.  columns: size, size_rank, seed, step, checkpoint_id, revision, weights_sha256, has_data
SELECT m.size, m.size_rank, r.seed, ck.step, ck.checkpoint_id, ck.revision, ck.weights_sha256,
       EXISTS (SELECT 1
               FROM checkpoint_token ct
               JOIN position p ON p.position_id = ct.position_id
               WHERE ct.checkpoint_id = ck.checkpoint_id
                 AND p.corpus_id = (SELECT corpus_id FROM corpus WHERE name = %(corpus)s)) AS has_data
FROM checkpoint ck
JOIN run r ON r.run_id = ck.run_id
JOIN model m ON m.model_id = r.model_id
JOIN suite s ON s.suite_id = m.suite_id
WHERE s.name = %(suite)s
ORDER BY m.size_rank, m.size, r.seed, ck.step

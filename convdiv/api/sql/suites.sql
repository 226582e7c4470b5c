-- Suites in the warehouse for `Warehouse.suites()`: one row per suite with what it holds.
-- suite: name; source: 'hub' or 'local'; sizes: size labels smallest first; seeds: distinct seeds;
-- steps: distinct checkpoint steps; n_checkpoints: registered checkpoints; corpora: corpora with at least one
-- ingest unit done (facts visible); created_at: when the suite was first registered.
SELECT s.suite_id,
       s.name AS suite,
       s.source,
       s.tokenizer,
       ARRAY(SELECT m.size FROM model m WHERE m.suite_id = s.suite_id ORDER BY m.size_rank, m.size) AS sizes,
       ARRAY(SELECT DISTINCT r.seed FROM run r JOIN model m USING (model_id)
             WHERE m.suite_id = s.suite_id ORDER BY r.seed) AS seeds,
       ARRAY(SELECT DISTINCT c.step FROM checkpoint c JOIN run r USING (run_id) JOIN model m USING (model_id)
             WHERE m.suite_id = s.suite_id ORDER BY c.step) AS steps,
       (SELECT count(*) FROM checkpoint c JOIN run r USING (run_id) JOIN model m USING (model_id)
         WHERE m.suite_id = s.suite_id) AS n_checkpoints,
       ARRAY(SELECT DISTINCT co.name FROM ingest_unit u JOIN corpus co USING (corpus_id)
             WHERE u.suite_id = s.suite_id AND u.status = 'done' ORDER BY co.name) AS corpora,
       s.created_at
FROM suite s
ORDER BY s.name

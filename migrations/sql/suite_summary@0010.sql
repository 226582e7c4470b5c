-- suite_summary: one row per suite with what it holds (registered sizes, seeds, steps, checkpoints) and the corpora
-- it has measurements on.
--
-- Serves: convdiv.connect().suites(), the report's scope choice and its Overview (the suite's declared grid).
-- Columns:
--   suite_id, suite       the suite (key and name)
--   source                'hub' or 'local'
--   origin                where the name's checkpoints come from (a folder or a hub pattern)
--   tokenizer             the tokenizer the suite's checkpoints share
--   sizes                 size labels, smallest first
--   seeds                 distinct seeds of its runs
--   steps                 distinct checkpoint steps
--   n_checkpoints         registered checkpoints
--   corpora               corpora with at least one ingest unit done (facts visible)
--   spec                  the suite specification as given (JSON: sizes, seeds, steps, ...)
--   created_at            when the suite was first registered
CREATE OR REPLACE VIEW suite_summary AS
SELECT s.suite_id,
       s.name AS suite,
       s.source,
       s.origin,
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
       s.spec,
       s.created_at
FROM suite s;

-- checkpoint_info: a checkpoint with its suite, model size, seed and step (the dimensions joined once).
--
-- Serves: every view that reports per checkpoint (token_records, reference_kl via checkpoint_stats).
-- Columns:
--   checkpoint_id          the checkpoint
--   suite_id, suite        the suite (key and name)
--   model_id, size         the model size (key and the suite's label, e.g. '70m')
--   size_rank              order of sizes from smallest (0) to largest
--   run_id, seed           the training run and its random seed
--   step                   training step t (0 = initialisation)
CREATE OR REPLACE VIEW checkpoint_info AS
SELECT
    c.checkpoint_id,
    s.suite_id,
    s.name AS suite,
    m.model_id,
    m.size,
    m.size_rank,
    r.run_id,
    r.seed,
    c.step
FROM checkpoint AS c
JOIN run AS r ON r.run_id = c.run_id
JOIN model AS m ON m.model_id = r.model_id
JOIN suite AS s ON s.suite_id = m.suite_id;

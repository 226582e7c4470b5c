-- reference_kl: per suite, corpus, size and step, the reference curves: KL to the uniform distribution, KL to the
-- corpus unigram, cross-entropy and entropy, averaged over seeds.
--   mean_X(m, t) = mean over seeds s of (mean over positions x of X(m, s, t, x))
-- Serves: the study's reference plots (KL to uniform rises as a model leaves the uniform phase; KL to unigram is
-- lowest where the models have learnt unigram statistics) and the CE (loss) curve; input of phase_boundaries.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, size, size_rank, step
--   n_seeds                       checkpoints (seeds) averaged
--   n_positions                   positions per checkpoint (the largest, if unequal)
--   mean_kl_uniform, sd_kl_uniform   KL(p || uniform) = log|V| - H(p): mean and sample SD over seeds, nats
--   mean_kl_unigram, sd_kl_unigram   KL(p || q): mean and sample SD over seeds, nats
--   mean_ce, sd_ce                   cross-entropy (surprisal): mean and sample SD over seeds, nats
--   mean_entropy, sd_entropy         entropy H(p): mean and sample SD over seeds, nats
-- SDs are NULL with a single seed. Reads the materialised checkpoint_stats (family 'all').
CREATE OR REPLACE VIEW reference_kl AS
SELECT
    ci.suite,
    ci.suite_id,
    co.name AS corpus,
    cs.corpus_id,
    ci.size,
    ci.size_rank,
    ci.step,
    count(*) AS n_seeds,
    max(cs.n_positions) AS n_positions,
    avg(cs.mean_kl_uniform) AS mean_kl_uniform,
    stddev_samp(cs.mean_kl_uniform) AS sd_kl_uniform,
    avg(cs.mean_kl_unigram) AS mean_kl_unigram,
    stddev_samp(cs.mean_kl_unigram) AS sd_kl_unigram,
    avg(cs.mean_ce) AS mean_ce,
    stddev_samp(cs.mean_ce) AS sd_ce,
    avg(cs.mean_entropy) AS mean_entropy,
    stddev_samp(cs.mean_entropy) AS sd_entropy
FROM checkpoint_stats AS cs
JOIN checkpoint_info AS ci ON ci.checkpoint_id = cs.checkpoint_id
JOIN corpus AS co ON co.corpus_id = cs.corpus_id
WHERE cs.family = 'all'
GROUP BY ci.suite, ci.suite_id, co.name, cs.corpus_id, ci.size, ci.size_rank, ci.step;

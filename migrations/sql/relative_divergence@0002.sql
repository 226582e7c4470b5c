-- relative_divergence: sigma_c = E[KL | c] / E[KL], per suite, corpus, kind, size, step, family and category.
-- For consecutive_step comparisons this is the study's "learnability" analysis (which categories a run still
-- changes most between steps); for seed_pair comparisons relative convergence (which categories the seeds
-- disagree on more, sigma > 1, or less, sigma < 1, than on average).
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b, family, category,
--   category_order, n_positions          as in conditional_kl
--   mean_kl       E[KL | c]: conditional_kl.mean_kl, nats
--   overall_kl    E[KL] over all positions of the same comparisons: expected_kl.mean_kl, nats
--   sigma         mean_kl / overall_kl (NULL when overall_kl is 0)
--   band_low, band_high   the outlier band: settings convdiv.outlier_low (default 0.8), convdiv.outlier_high
--                         (default 1.25); change per session with SET convdiv.outlier_low = 0.7
--   is_outlier    sigma < band_low OR sigma > band_high
CREATE OR REPLACE VIEW relative_divergence AS
SELECT
    c.suite,
    c.suite_id,
    c.corpus,
    c.corpus_id,
    c.kind,
    c.size,
    c.size_rank,
    c.size_b,
    c.step,
    c.step_b,
    c.family,
    c.category,
    c.category_order,
    c.n_positions,
    c.mean_kl,
    e.mean_kl AS overall_kl,
    c.mean_kl / nullif(e.mean_kl, 0) AS sigma,
    band.low AS band_low,
    band.high AS band_high,
    (c.mean_kl / nullif(e.mean_kl, 0) < band.low OR c.mean_kl / nullif(e.mean_kl, 0) > band.high) AS is_outlier
FROM conditional_kl AS c
JOIN expected_kl AS e
    ON e.suite_id = c.suite_id AND e.corpus_id = c.corpus_id AND e.kind = c.kind
    AND e.size = c.size AND e.size_b = c.size_b AND e.step = c.step AND e.step_b = c.step_b
CROSS JOIN (
    SELECT convdiv_setting('outlier_low', 0.8) AS low, convdiv_setting('outlier_high', 1.25) AS high
) AS band;

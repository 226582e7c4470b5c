-- divergence_stability: per suite, corpus, size and category, how much the category diverges between seeds early
-- in training and how much it still changes late: the inputs of the presentation's "earlier divergence in training
-- correlates to greater stability later on".
--
-- The two phases come from phase_boundaries (kind seed_pair, the size's own curve E[KL](t) across seeds):
--   divergence phase   the seed-pair steps t with divergence_start_step <= t <= divergence_peak_step, where
--                      divergence_start_step = the convergence minimum (convergence_min_step), or, without one, the
--                      end of the uniform phase (uniform_end_step), or the first step: the sharp divergence.
--   late phase         the consecutive-step intervals t -> t_next with t >= divergence_peak_step: what a run
--                      still changes from the divergence peak on (slow reconvergence).
-- Measures, both relative to the average over all positions of the same comparisons (relative_divergence's sigma,
-- so that categories are comparable whatever their overall KL):
--   early_sigma   geometric mean over the divergence phase's steps of sigma(seed_pair, t)
--                 = E[KL | c] / E[KL] between seeds: > 1, the seeds disagree more on c than on average
--   late_sigma    geometric mean over the late phase's intervals of sigma(consecutive_step, t)
--                 = E[KL | c](t -> t_next) / E[KL](t -> t_next) within runs: < 1, c changes less than average,
--                 i.e. is more stable (stability = 1 / late_sigma)
-- "Earlier divergence correlates with greater stability later" reads: across categories, early_sigma and
-- late_sigma are negatively correlated (the report's divergence-stability section tests it, with an interval over
-- seeds). Steps where a sigma is NULL or 0 are left out of its geometric mean (and of its count).
-- No row for a size whose seed-pair curve has no divergence peak (phase_boundaries.divergence_peak_step NULL:
-- no divergence phase to measure), nor for a category with no positive sigma in either phase.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, size, size_rank
--   divergence_start_step, divergence_peak_step   the divergence phase's first and last step (seed pairs)
--   last_step                 the last step of the size's seed-pair curve
--   family, category, category_order   as in conditional_kl (every family but 'all')
--   n_positions               positions of the category per comparison (the largest over the steps used)
--   n_early_steps             seed-pair steps in the divergence phase with a positive sigma
--   early_sigma               their geometric mean sigma (NULL when n_early_steps = 0)
--   n_late_steps              consecutive-step intervals of the late phase with a positive sigma
--   late_sigma                their geometric mean sigma (NULL when n_late_steps = 0)
-- Serves: the report's divergence-stability section (convdiv/report/sections/divergence_stability.py), which adds
-- the correlation across categories and its leave-one-seed-out interval (convdiv/analysis/intervals.py).
CREATE OR REPLACE VIEW divergence_stability AS
SELECT
    p.suite,
    p.suite_id,
    p.corpus,
    p.corpus_id,
    p.size,
    p.size_rank,
    p.divergence_start_step,
    p.divergence_peak_step,
    p.last_step,
    r.family,
    r.category,
    min(r.category_order) AS category_order,
    max(r.n_positions) AS n_positions,
    count(*) FILTER (WHERE ph.early) AS n_early_steps,
    exp(avg(ln(r.sigma)) FILTER (WHERE ph.early)) AS early_sigma,
    count(*) FILTER (WHERE ph.late) AS n_late_steps,
    exp(avg(ln(r.sigma)) FILTER (WHERE ph.late)) AS late_sigma
FROM (
    SELECT
        b.suite,
        b.suite_id,
        b.corpus,
        b.corpus_id,
        b.size,
        b.size_rank,
        coalesce(b.convergence_min_step, b.uniform_end_step, b.first_step) AS divergence_start_step,
        b.divergence_peak_step,
        b.last_step
    FROM phase_boundaries AS b
    WHERE b.kind = 'seed_pair' AND b.divergence_peak_step IS NOT NULL
) AS p
JOIN relative_divergence AS r
    ON r.suite_id = p.suite_id AND r.suite = p.suite AND r.corpus_id = p.corpus_id AND r.size = p.size
    AND r.size_b = p.size
CROSS JOIN LATERAL (
    SELECT
        r.kind = 'seed_pair' AND r.step BETWEEN p.divergence_start_step AND p.divergence_peak_step AS early,
        r.kind = 'consecutive_step' AND r.step >= p.divergence_peak_step AS late
) AS ph
WHERE (ph.early OR ph.late) AND r.sigma > 0
GROUP BY
    p.suite, p.suite_id, p.corpus, p.corpus_id, p.size, p.size_rank, p.divergence_start_step,
    p.divergence_peak_step, p.last_step, r.family, r.category;

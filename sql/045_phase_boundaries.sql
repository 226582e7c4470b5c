-- phase_boundaries: per suite, corpus, size and comparison kind, the steps that bound the study's four phases of
-- training (uniform -> sharp convergence -> sharp divergence -> slow reconvergence), read off the curves
-- E[KL](t) (expected_kl, this kind) and the reference curves (reference_kl, mean over seeds) at the ingested steps.
--
-- The rule (the Python side, convdiv.analysis.phases, may refine it):
--   1. uniform_end_step: the first step where KL to uniform exceeds min + f * (max - min) of its curve,
--      f = setting convdiv.uniform_end_fraction (default 0.1): the first step outside the uniform phase.
--      NULL when the curve is flat or missing; later rules then start at the first step.
--   2. unigram_closest_step: the step >= uniform_end_step where KL to the unigram is lowest (models closest to
--      unigram statistics; the study finds the convergence minimum there).
--   3. divergence_peak_step: the step >= max(uniform_end_step, unigram_closest_step) where E[KL] is highest: the
--      peak of the sharp divergence. NULL when it equals the convergence minimum (no divergence seen).
--   4. convergence_min_step: the step in [uniform_end_step, divergence_peak_step] where E[KL] is lowest: the end of
--      sharp convergence.
--   5. reconvergence_start_step: divergence_peak_step when a later step has a lower E[KL] (the curve turns down
--      into slow reconvergence there), else NULL (still diverging at the last ingested step).
--   Ties go to the earliest step. cross_size comparisons have no single size and are left out.
-- Columns:
--   suite, suite_id, corpus, corpus_id, size, size_rank, kind
--   n_steps                       steps on the E[KL] curve
--   uniform_end_step, unigram_closest_step, convergence_min_step, divergence_peak_step, reconvergence_start_step
--   paper_lines                   the study's published phase lines, {16, 256, 2000} (Fehlauer et al., 2025)
--   presentation_lines            the lines of the study's presentation, {8, 64, 1000}
CREATE OR REPLACE VIEW phase_boundaries AS
WITH curve AS (
    SELECT
        e.suite, e.suite_id, e.corpus, e.corpus_id, e.size, e.size_rank, e.kind, e.step,
        e.mean_kl, r.mean_kl_uniform, r.mean_kl_unigram
    FROM expected_kl AS e
    LEFT JOIN reference_kl AS r
        ON r.suite_id = e.suite_id AND r.corpus_id = e.corpus_id AND r.size = e.size AND r.step = e.step
    WHERE e.kind <> 'cross_size'
),
uniform_end AS (
    SELECT
        suite, suite_id, corpus, corpus_id, size, size_rank, kind,
        count(*) AS n_steps,
        -- FILTER picks the first step above the threshold; the threshold itself is per curve
        min(step) FILTER (
            WHERE mean_kl_uniform > lo_u + convdiv_setting('uniform_end_fraction', 0.1) * (hi_u - lo_u)
        ) AS uniform_end_step
    FROM (
        SELECT
            curve.*,
            min(mean_kl_uniform) OVER w AS lo_u,
            max(mean_kl_uniform) OVER w AS hi_u
        FROM curve
        WINDOW w AS (PARTITION BY suite_id, corpus_id, size, kind)
    ) AS c
    GROUP BY suite, suite_id, corpus, corpus_id, size, size_rank, kind
),
unigram_closest AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS unigram_closest_step
    FROM curve AS c
    JOIN uniform_end AS u USING (suite_id, corpus_id, size, kind)
    WHERE c.mean_kl_unigram IS NOT NULL AND c.step >= coalesce(u.uniform_end_step, c.step)
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl_unigram, c.step
),
peak AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS peak_step, c.mean_kl AS peak_kl
    FROM curve AS c
    JOIN uniform_end AS u USING (suite_id, corpus_id, size, kind)
    LEFT JOIN unigram_closest AS g USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(greatest(u.uniform_end_step, g.unigram_closest_step), c.step)
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl DESC, c.step
),
convergence_min AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS convergence_min_step
    FROM curve AS c
    JOIN uniform_end AS u USING (suite_id, corpus_id, size, kind)
    JOIN peak AS p USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(u.uniform_end_step, c.step) AND c.step <= p.peak_step
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl, c.step
)
SELECT
    u.suite,
    u.suite_id,
    u.corpus,
    u.corpus_id,
    u.size,
    u.size_rank,
    u.kind,
    u.n_steps,
    u.uniform_end_step,
    g.unigram_closest_step,
    m.convergence_min_step,
    CASE WHEN p.peak_step <> m.convergence_min_step THEN p.peak_step END AS divergence_peak_step,
    CASE
        WHEN p.peak_step <> m.convergence_min_step AND EXISTS (
            SELECT 1 FROM curve AS c
            WHERE c.suite_id = u.suite_id AND c.corpus_id = u.corpus_id AND c.size = u.size AND c.kind = u.kind
              AND c.step > p.peak_step AND c.mean_kl < p.peak_kl
        ) THEN p.peak_step
    END AS reconvergence_start_step,
    ARRAY[16, 256, 2000] AS paper_lines,
    ARRAY[8, 64, 1000] AS presentation_lines
FROM uniform_end AS u
LEFT JOIN unigram_closest AS g USING (suite_id, corpus_id, size, kind)
LEFT JOIN peak AS p USING (suite_id, corpus_id, size, kind)
LEFT JOIN convergence_min AS m USING (suite_id, corpus_id, size, kind);

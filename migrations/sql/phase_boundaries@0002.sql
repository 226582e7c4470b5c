-- phase_boundaries: per suite, corpus, size and comparison kind, the steps that bound the study's four phases of
-- training (uniform -> sharp convergence -> sharp divergence -> slow reconvergence), read off the curves
-- E[KL](t) (expected_kl, this kind) and the reference curves (reference_kl, mean over seeds) at the ingested steps.
--
-- The rule (the Python side, convdiv.analysis.phases, may refine it):
--   1. uniform_end_step: the first step where KL to uniform (reference_kl, all steps of the size) exceeds
--      min + f * (max - min) of that curve, f = setting convdiv.uniform_end_fraction (default 0.1): the first step
--      outside the uniform phase. NULL when the curve is flat or missing; later rules then start at the first step.
--   2. unigram_closest_step: the step >= uniform_end_step where KL to the unigram (reference_kl) is lowest (models
--      closest to unigram statistics; the study finds the convergence minimum there).
--   Rules 1-2 read the reference curves and so agree across kinds; rules 3-5 read E[KL] of the row's kind at
--   the steps of its curve (for consecutive_step: t1).
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
    SELECT suite, suite_id, corpus, corpus_id, size, size_rank, kind, step, mean_kl
    FROM expected_kl
    WHERE kind <> 'cross_size'
),
reference AS (
    SELECT
        r.*,
        min(r.mean_kl_uniform) OVER w AS lo_u,
        max(r.mean_kl_uniform) OVER w AS hi_u
    FROM reference_kl AS r
    WINDOW w AS (PARTITION BY r.suite_id, r.corpus_id, r.size)
),
uniform_end AS (
    SELECT
        suite_id, corpus_id, size,
        -- the threshold is per size: a fraction of the way from the curve's lowest to its highest value
        min(step) FILTER (
            WHERE mean_kl_uniform > lo_u + convdiv_setting('uniform_end_fraction', 0.1) * (hi_u - lo_u)
        ) AS uniform_end_step
    FROM reference
    GROUP BY suite_id, corpus_id, size
),
unigram_closest AS (
    SELECT DISTINCT ON (r.suite_id, r.corpus_id, r.size)
        r.suite_id, r.corpus_id, r.size, r.step AS unigram_closest_step
    FROM reference AS r
    JOIN uniform_end AS u USING (suite_id, corpus_id, size)
    WHERE r.mean_kl_unigram IS NOT NULL AND r.step >= coalesce(u.uniform_end_step, r.step)
    ORDER BY r.suite_id, r.corpus_id, r.size, r.mean_kl_unigram, r.step
),
curves AS (
    SELECT
        c.suite, c.suite_id, c.corpus, c.corpus_id, c.size, c.size_rank, c.kind,
        count(*) AS n_steps,
        min(u.uniform_end_step) AS uniform_end_step,
        min(g.unigram_closest_step) AS unigram_closest_step
    FROM curve AS c
    LEFT JOIN uniform_end AS u USING (suite_id, corpus_id, size)
    LEFT JOIN unigram_closest AS g USING (suite_id, corpus_id, size)
    GROUP BY c.suite, c.suite_id, c.corpus, c.corpus_id, c.size, c.size_rank, c.kind
),
peak AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS peak_step, c.mean_kl AS peak_kl
    FROM curve AS c
    JOIN curves AS k USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(greatest(k.uniform_end_step, k.unigram_closest_step), c.step)
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl DESC, c.step
),
convergence_min AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS convergence_min_step
    FROM curve AS c
    JOIN curves AS k USING (suite_id, corpus_id, size, kind)
    JOIN peak AS p USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(k.uniform_end_step, c.step) AND c.step <= p.peak_step
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl, c.step
)
SELECT
    k.suite,
    k.suite_id,
    k.corpus,
    k.corpus_id,
    k.size,
    k.size_rank,
    k.kind,
    k.n_steps,
    k.uniform_end_step,
    k.unigram_closest_step,
    m.convergence_min_step,
    CASE WHEN p.peak_step <> m.convergence_min_step THEN p.peak_step END AS divergence_peak_step,
    CASE
        WHEN p.peak_step <> m.convergence_min_step AND EXISTS (
            SELECT 1 FROM curve AS c
            WHERE c.suite_id = k.suite_id AND c.corpus_id = k.corpus_id AND c.size = k.size AND c.kind = k.kind
              AND c.step > p.peak_step AND c.mean_kl < p.peak_kl
        ) THEN p.peak_step
    END AS reconvergence_start_step,
    ARRAY[16, 256, 2000] AS paper_lines,
    ARRAY[8, 64, 1000] AS presentation_lines
FROM curves AS k
LEFT JOIN peak AS p USING (suite_id, corpus_id, size, kind)
LEFT JOIN convergence_min AS m USING (suite_id, corpus_id, size, kind);

-- phase_boundaries: per suite, corpus, size and comparison kind, the steps that bound the study's phases of
-- training, read off the curves E[KL](t) (expected_kl, this kind) and the reference curves (reference_kl, mean
-- over seeds) at the ingested steps. This is the one phase rule of convdiv: the report reads it and shades the
-- spans between these steps (convdiv.analysis.phases only names the spans).
--
-- The paper's four phases (uniform -> sharp convergence -> sharp divergence -> slow reconvergence):
--   1. uniform_end_step: the first step where KL to uniform (reference_kl, all steps of the size) exceeds
--      min + f * (max - min) of that curve, f = setting convdiv.uniform_end_fraction (default 0.1): the first step
--      outside the uniform phase. NULL when the curve is flat or missing; later rules then start at the first step.
--   2. unigram_closest_step: the step >= uniform_end_step where KL to the unigram (reference_kl) is lowest (models
--      closest to unigram statistics; the study finds the convergence minimum there).
--   Rules 1-2 read the reference curves and so agree across kinds; rules 3-7 read E[KL] of the row's kind at
--   the steps of its curve (for consecutive_step: t1).
--   3. divergence_peak_step: the step >= max(uniform_end_step, unigram_closest_step) where E[KL] is highest: the
--      peak of the sharp divergence. NULL when it is the uniform end or the convergence minimum (no rise seen).
--   4. convergence_min_step: the step in [uniform_end_step, divergence_peak_step] where E[KL] is lowest, provided
--      it is strictly below E[KL] at the end of the uniform phase (at uniform_end_step, or the last curve step
--      before it; the first step when uniform_end_step is NULL): a curve that never dips has no convergence
--      minimum and no sharp-convergence phase (NULL).
--   5. reconvergence_start_step: divergence_peak_step when a later step has a lower E[KL] (the curve turns down
--      into slow reconvergence there), else NULL (still diverging at the last ingested step).
-- The presentation's four phases (uniform -> functional universality -> unigram transition -> contextual
-- learning; its lines sit near 8 / 64 / 1000) share rule 1 and add the sharp rise of E[KL]:
--   6. sharp_rise_start_step: over the intervals between consecutive curve steps from uniform_end_step on, the
--      rise E[KL](t_next) - E[KL](t); an interval is sharp when its rise is at least f * the largest rise, f =
--      setting convdiv.sharp_rise_fraction (default 0.5). The first sharp interval's start ends functional
--      universality and starts the unigram transition. NULL when E[KL] never rises after the uniform phase.
--   7. sharp_rise_end_step: the end of that first run of sharp intervals (the start of the first later interval
--      that is not sharp, else the last step): contextual learning starts there.
--   Ties go to the earliest step. cross_size comparisons have no single size and are left out.
-- Columns:
--   suite, suite_id, corpus, corpus_id, size, size_rank, kind
--   n_steps, first_step, last_step   steps on the E[KL] curve, its first and last
--   uniform_end_step, unigram_closest_step, convergence_min_step, divergence_peak_step, reconvergence_start_step
--   sharp_rise_start_step, sharp_rise_end_step
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
        min(c.step) AS first_step,
        max(c.step) AS last_step,
        min(u.uniform_end_step) AS uniform_end_step,
        min(g.unigram_closest_step) AS unigram_closest_step
    FROM curve AS c
    LEFT JOIN uniform_end AS u USING (suite_id, corpus_id, size)
    LEFT JOIN unigram_closest AS g USING (suite_id, corpus_id, size)
    GROUP BY c.suite, c.suite_id, c.corpus, c.corpus_id, c.size, c.size_rank, c.kind
),
-- E[KL] where the uniform phase ends: at its end step, or the last curve step before it
uniform_level AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS level_step, c.mean_kl AS level_kl
    FROM curve AS c
    JOIN curves AS k USING (suite_id, corpus_id, size, kind)
    WHERE c.step <= coalesce(k.uniform_end_step, k.first_step)
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.step DESC
),
peak AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS peak_step, c.mean_kl AS peak_kl
    FROM curve AS c
    JOIN curves AS k USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(greatest(k.uniform_end_step, k.unigram_closest_step), c.step)
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl DESC, c.step
),
valley AS (
    SELECT DISTINCT ON (c.suite_id, c.corpus_id, c.size, c.kind)
        c.suite_id, c.corpus_id, c.size, c.kind, c.step AS valley_step, c.mean_kl AS valley_kl
    FROM curve AS c
    JOIN curves AS k USING (suite_id, corpus_id, size, kind)
    JOIN peak AS p USING (suite_id, corpus_id, size, kind)
    WHERE c.step >= coalesce(k.uniform_end_step, c.step) AND c.step <= p.peak_step
    ORDER BY c.suite_id, c.corpus_id, c.size, c.kind, c.mean_kl, c.step
),
-- the intervals between consecutive curve steps from the end of the uniform phase on, with their rise
rises AS (
    SELECT
        i.*,
        max(i.rise) OVER (PARTITION BY i.suite_id, i.corpus_id, i.size, i.kind) AS max_rise
    FROM (
        SELECT
            c.suite_id, c.corpus_id, c.size, c.kind, c.step,
            lead(c.mean_kl) OVER w - c.mean_kl AS rise
        FROM curve AS c
        JOIN curves AS k USING (suite_id, corpus_id, size, kind)
        WHERE c.step >= coalesce(k.uniform_end_step, k.first_step)
        WINDOW w AS (PARTITION BY c.suite_id, c.corpus_id, c.size, c.kind ORDER BY c.step)
    ) AS i
    WHERE i.rise IS NOT NULL
),
sharp AS (
    SELECT
        suite_id, corpus_id, size, kind, step,
        max_rise > 0 AND rise >= convdiv_setting('sharp_rise_fraction', 0.5) * max_rise AS is_sharp
    FROM rises
),
rise_start AS (
    SELECT suite_id, corpus_id, size, kind, min(step) AS sharp_rise_start_step
    FROM sharp
    WHERE is_sharp
    GROUP BY suite_id, corpus_id, size, kind
),
rise_end AS (
    SELECT r.suite_id, r.corpus_id, r.size, r.kind, min(s.step) AS first_flat_step
    FROM rise_start AS r
    JOIN sharp AS s USING (suite_id, corpus_id, size, kind)
    WHERE s.step > r.sharp_rise_start_step AND NOT s.is_sharp
    GROUP BY r.suite_id, r.corpus_id, r.size, r.kind
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
    k.first_step,
    k.last_step,
    k.uniform_end_step,
    k.unigram_closest_step,
    CASE WHEN v.valley_kl < l.level_kl THEN v.valley_step END AS convergence_min_step,
    CASE WHEN p.peak_kl > least(l.level_kl, v.valley_kl) THEN p.peak_step END AS divergence_peak_step,
    CASE
        WHEN p.peak_kl > least(l.level_kl, v.valley_kl) AND EXISTS (
            SELECT 1 FROM curve AS c
            WHERE c.suite_id = k.suite_id AND c.corpus_id = k.corpus_id AND c.size = k.size AND c.kind = k.kind
              AND c.step > p.peak_step AND c.mean_kl < p.peak_kl
        ) THEN p.peak_step
    END AS reconvergence_start_step,
    rs.sharp_rise_start_step,
    CASE WHEN rs.sharp_rise_start_step IS NOT NULL THEN coalesce(re.first_flat_step, k.last_step) END
        AS sharp_rise_end_step,
    ARRAY[16, 256, 2000] AS paper_lines,
    ARRAY[8, 64, 1000] AS presentation_lines
FROM curves AS k
LEFT JOIN uniform_level AS l USING (suite_id, corpus_id, size, kind)
LEFT JOIN peak AS p USING (suite_id, corpus_id, size, kind)
LEFT JOIN valley AS v USING (suite_id, corpus_id, size, kind)
LEFT JOIN rise_start AS rs USING (suite_id, corpus_id, size, kind)
LEFT JOIN rise_end AS re USING (suite_id, corpus_id, size, kind);

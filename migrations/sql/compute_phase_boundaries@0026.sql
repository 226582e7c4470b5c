-- compute_phase_boundaries(suite_id): the rows of phase_boundaries for one suite (every column but the suite's
-- name); the rule is written down in sql/views/phase_boundaries.sql, which calls this once per suite.
--
-- Why a function: the rule reads the curves several times, so its CTEs are materialised, and a filter on the
-- view's suite cannot reach inside them: the view computed every suite's curves for any read. Called per suite
-- (the view joins suite LATERAL), a read of one suite costs that suite's curves.
CREATE OR REPLACE FUNCTION compute_phase_boundaries(p_suite_id int)
RETURNS TABLE (
    suite_id smallint, corpus text, corpus_id smallint, size text, size_rank smallint, kind text, n_steps bigint,
    first_step int, last_step int, uniform_end_step int, unigram_closest_step int, convergence_min_step int,
    divergence_peak_step int, reconvergence_start_step int, sharp_rise_start_step int, sharp_rise_end_step int,
    paper_lines int[], presentation_lines int[]
)
LANGUAGE sql STABLE
AS $$
WITH curve AS (
    SELECT suite, suite_id, corpus, corpus_id, size, size_rank, kind, step, mean_kl
    FROM expected_kl
    WHERE kind <> 'cross_size' AND suite_id = p_suite_id
),
reference AS (
    SELECT
        r.*,
        min(r.mean_kl_uniform) OVER w AS lo_u,
        max(r.mean_kl_uniform) OVER w AS hi_u
    FROM reference_kl AS r
    WHERE r.suite_id = p_suite_id
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
LEFT JOIN rise_end AS re USING (suite_id, corpus_id, size, kind)
$$;

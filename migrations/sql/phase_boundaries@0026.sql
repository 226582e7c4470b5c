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
-- Computed per suite by compute_phase_boundaries (sql/views/compute_phase_boundaries.sql, which holds the rule's
-- SQL; migration 0014): a read filtered on suite computes that suite's rows only.
CREATE OR REPLACE VIEW phase_boundaries AS
SELECT
    s.name AS suite,
    b.suite_id,
    b.corpus,
    b.corpus_id,
    b.size,
    b.size_rank,
    b.kind,
    b.n_steps,
    b.first_step,
    b.last_step,
    b.uniform_end_step,
    b.unigram_closest_step,
    b.convergence_min_step,
    b.divergence_peak_step,
    b.reconvergence_start_step,
    b.sharp_rise_start_step,
    b.sharp_rise_end_step,
    b.paper_lines,
    b.presentation_lines
FROM suite AS s
CROSS JOIN LATERAL compute_phase_boundaries(s.suite_id) AS b;

-- pair_records: the flat per-comparison record, one row per (comparison, position, direction).
--
-- Serves: ad-hoc questions about single positions of a comparison ("where do seeds 1 and 2 disagree most?").
-- Each pair_token row holds both directions; this view unfolds them, so a comparison's mean KL over both
-- directions is avg(kl) over its rows. Not materialised: filter by comparison, kind, size or step.
-- Columns:
--   suite, suite_id, corpus, corpus_id            suite and corpus
--   kind, comparison_id, checkpoint_a, checkpoint_b   the comparison (see comparison_info)
--   size_a, size_b, size_rank_a, size_rank_b, seed_a, seed_b, step_a, step_b   both checkpoints
--   position_id, document, idx, token_id, token, pos_t, pos_prev   the position and its predicted token
--   direction     'ab': kl = KL(p_a || p_b); 'ba': kl = KL(p_b || p_a)
--   kl            the KL in that direction, nats
--   ce_a, ce_b    surprisal of w(x+1) under checkpoint a and b, nats (NULL if that checkpoint has no row)
CREATE OR REPLACE VIEW pair_records AS
SELECT
    cmp.suite,
    cmp.suite_id,
    co.name AS corpus,
    p.corpus_id,
    cmp.kind,
    pt.comparison_id,
    cmp.checkpoint_a,
    cmp.checkpoint_b,
    cmp.size_a,
    cmp.size_b,
    cmp.size_rank_a,
    cmp.size_rank_b,
    cmp.seed_a,
    cmp.seed_b,
    cmp.step_a,
    cmp.step_b,
    pt.position_id,
    p.document,
    p.idx,
    p.target_token_id AS token_id,
    vt.token,
    p.pos_t,
    p.pos_prev,
    d.direction,
    CASE d.direction WHEN 'ab' THEN pt.kl_ab ELSE pt.kl_ba END AS kl,
    cta.ce AS ce_a,
    ctb.ce AS ce_b
-- The joins are written in the order the planner should follow (the view has more relations than
-- join_collapse_limit, so it keeps this order; migration 0024):
-- 1. each comparison's pair_token rows (a filter on suite, kind, size, seed or step selects the comparisons first);
-- 2. each checkpoint's CE by primary key, once per pair_token row (before the directions are unfolded: the scalar
--    subqueries of 0020 ran once per output row, so twice per position), from a LATERAL aggregate that returns one
--    row (NULL when the checkpoint has no row at the position), so a read that selects neither ce_a nor ce_b drops
--    the lookups (min over the one row with that key is its ce). Per row rather than one index range per
--    comparison: tried side by side on a paper-scale warehouse (server time), a range per comparison read a size's
--    seed pairs at one step in 0.27 s against 0.59 s, but 101 positions of every comparison in 6.9 s against 1.1 s
--    (a bound on position_id does not reach a per-comparison range); plain LEFT JOINs made the planner merge with
--    every checkpoint_token row of the corpus (0003);
-- 3. the position's columns by LEFT JOINs of their tables (every pair_token row has its position: a fact
--    partition is one corpus's position range), which a read that selects none of them drops too;
-- 4. the two directions last, from a constant two-row list (a filter on direction leaves one row of it, so the
--    other direction is never built; 0020's LATERAL VALUES built both for every row, then filtered).
FROM pair_token AS pt
JOIN comparison_info AS cmp ON cmp.comparison_id = pt.comparison_id
LEFT JOIN LATERAL (
    SELECT min(ct.ce) AS ce
    FROM checkpoint_token AS ct
    WHERE ct.checkpoint_id = cmp.checkpoint_a AND ct.position_id = pt.position_id
) AS cta ON true
LEFT JOIN LATERAL (
    SELECT min(ct.ce) AS ce
    FROM checkpoint_token AS ct
    WHERE ct.checkpoint_id = cmp.checkpoint_b AND ct.position_id = pt.position_id
) AS ctb ON true
LEFT JOIN position AS p ON p.position_id = pt.position_id
LEFT JOIN corpus AS co ON co.corpus_id = p.corpus_id
LEFT JOIN vocab_token AS vt ON vt.corpus_id = p.corpus_id AND vt.token_id = p.target_token_id
CROSS JOIN (VALUES ('ab'::text), ('ba'::text)) AS d (direction);

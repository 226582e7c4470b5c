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
    pf.corpus,
    pf.corpus_id,
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
    pf.document,
    pf.idx,
    pf.token_id,
    pf.token,
    pf.pos_t,
    pf.pos_prev,
    d.direction,
    d.kl,
    cta.ce AS ce_a,
    ctb.ce AS ce_b
FROM pair_token AS pt
JOIN comparison_info AS cmp ON cmp.comparison_id = pt.comparison_id
JOIN position_features AS pf ON pf.position_id = pt.position_id
CROSS JOIN LATERAL (VALUES ('ab'::text, pt.kl_ab), ('ba'::text, pt.kl_ba)) AS d (direction, kl)
LEFT JOIN checkpoint_token AS cta ON cta.checkpoint_id = cmp.checkpoint_a AND cta.position_id = pt.position_id
LEFT JOIN checkpoint_token AS ctb ON ctb.checkpoint_id = cmp.checkpoint_b AND ctb.position_id = pt.position_id;

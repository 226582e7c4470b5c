-- position_kl: the per-position expected KL, E[KL](x), per suite, corpus, comparison kind, size and step: for
-- each position x, the mean over the group's comparisons of (KL(p_a||p_b) + KL(p_b||p_a)) / 2.
--
-- Serves: analysts' per-position questions ("which contexts do the seeds disagree on at 512?"); the maintained
-- context_variance, token_divergence and regression aggregates are computed from the same rows.
-- Columns:
--   suite_id, corpus_id, kind, model_a, model_b, size, size_rank, size_b, step, step_b   the comparison group
--   position_id      the position x
--   n_comparisons    comparisons with a row at x
--   mean_kl          E[KL](x), nats
--   m2_kl            sum over those comparisons of (kl - mean_kl)^2 (for exact pooled variances downstream)
-- Reads agg_position_kl, maintained per comparison group in each unit's publish transaction.
CREATE OR REPLACE VIEW position_kl AS
SELECT
    g.suite_id,
    pk.corpus_id,
    g.kind,
    g.model_a,
    g.model_b,
    g.size_a AS size,
    g.size_rank_a AS size_rank,
    g.size_b,
    g.step_a AS step,
    g.step_b,
    pk.position_id,
    pk.n_comparisons,
    pk.mean_kl,
    pk.m2_kl
FROM agg_position_kl AS pk
JOIN comparison_group_info AS g ON g.group_id = pk.group_id;

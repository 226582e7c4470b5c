-- token_divergence (materialised): per suite, corpus, kind, size, step and predicted token, how much the
-- checkpoints disagree on the positions that predict this token: the tokens that diverge least and most.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b   as in expected_kl
--   token_id, token     the predicted token w(x+1) and its text
--   occurrences         positions of the corpus that predict this token
--   n_comparisons       comparisons in the group (seed pairs: S (S - 1) / 2)
--   mean_kl             mean over all (comparison, position) rows of the token of (KL(p_a||p_b) + KL(p_b||p_a)) / 2
--                       (pooled; equals the mean over comparisons when every comparison covers the corpus)
--   mean_ce             mean CE of the token over the checkpoints of checkpoint a's size and step (all seeds that
--                       have rows) and its occurrences, nats
-- Refreshed by refresh_aggregates after comparison_stats.
CREATE MATERIALIZED VIEW token_divergence AS
WITH kl AS (
    SELECT
        ci.suite_id,
        p.corpus_id,
        ci.kind,
        ci.model_a,
        ci.model_b,
        ci.step_a,
        ci.step_b,
        p.target_token_id AS token_id,
        avg((pt.kl_ab::double precision + pt.kl_ba::double precision) / 2) AS mean_kl
    FROM pair_token AS pt
    JOIN comparison_info AS ci ON ci.comparison_id = pt.comparison_id
    JOIN position AS p ON p.position_id = pt.position_id
    GROUP BY ci.suite_id, p.corpus_id, ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b, p.target_token_id
),
ce AS (
    SELECT
        ci.model_id,
        ci.step,
        p.corpus_id,
        p.target_token_id AS token_id,
        avg(ct.ce::double precision) AS mean_ce
    FROM checkpoint_token AS ct
    JOIN checkpoint_info AS ci ON ci.checkpoint_id = ct.checkpoint_id
    JOIN position AS p ON p.position_id = ct.position_id
    GROUP BY ci.model_id, ci.step, p.corpus_id, p.target_token_id
),
occurrences AS (
    SELECT corpus_id, target_token_id AS token_id, count(*) AS occurrences
    FROM position
    GROUP BY corpus_id, target_token_id
),
comparisons AS (
    SELECT ci.suite_id, cs.corpus_id, ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b, count(*) AS n_comparisons
    FROM comparison_stats AS cs
    JOIN comparison_info AS ci ON ci.comparison_id = cs.comparison_id
    WHERE cs.family = 'all'
    GROUP BY ci.suite_id, cs.corpus_id, ci.kind, ci.model_a, ci.model_b, ci.step_a, ci.step_b
)
SELECT
    s.name AS suite,
    kl.suite_id,
    co.name AS corpus,
    kl.corpus_id,
    kl.kind,
    ma.size,
    ma.size_rank,
    mb.size AS size_b,
    kl.step_a AS step,
    kl.step_b,
    kl.token_id,
    vt.token,
    o.occurrences,
    n.n_comparisons,
    kl.mean_kl,
    ce.mean_ce
FROM kl
JOIN suite AS s ON s.suite_id = kl.suite_id
JOIN corpus AS co ON co.corpus_id = kl.corpus_id
JOIN model AS ma ON ma.model_id = kl.model_a
JOIN model AS mb ON mb.model_id = kl.model_b
JOIN occurrences AS o ON o.corpus_id = kl.corpus_id AND o.token_id = kl.token_id
LEFT JOIN comparisons AS n
    ON n.suite_id = kl.suite_id AND n.corpus_id = kl.corpus_id AND n.kind = kl.kind
    AND n.model_a = kl.model_a AND n.model_b = kl.model_b AND n.step_a = kl.step_a AND n.step_b = kl.step_b
LEFT JOIN vocab_token AS vt ON vt.corpus_id = kl.corpus_id AND vt.token_id = kl.token_id
LEFT JOIN ce ON ce.model_id = kl.model_a AND ce.step = kl.step_a AND ce.corpus_id = kl.corpus_id
    AND ce.token_id = kl.token_id;

CREATE INDEX ix_token_divergence_group ON token_divergence (suite_id, corpus_id, kind, size, step);

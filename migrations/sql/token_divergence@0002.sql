-- token_divergence (materialised): per suite, corpus, kind, size, step and predicted token, how much the
-- checkpoints disagree on the positions that predict this token: the tokens that diverge least and most.
--
-- Columns:
--   suite, suite_id, corpus, corpus_id, kind, size, size_rank, size_b, step, step_b   as in expected_kl
--   token_id, token     the predicted token w(x+1) and its text
--   occurrences         positions of the corpus that predict this token
--   n_comparisons       comparisons per position (seed pairs: S (S - 1) / 2; the largest, if unequal)
--   mean_kl             mean over all (comparison, position) rows of the token of (KL(p_a||p_b) + KL(p_b||p_a)) / 2
--                       (pooled; equals the mean over comparisons when every comparison covers the corpus)
--   mean_ce             mean CE of the token over the checkpoints of checkpoint a's size and step (all seeds that
--                       have rows) and its occurrences, nats
-- Reads position_kl (KL) and checkpoint_token (CE); refreshed by refresh_aggregates.
CREATE MATERIALIZED VIEW token_divergence AS
WITH kl AS (
    SELECT
        pk.suite_id,
        pk.corpus_id,
        pk.kind,
        pk.model_a,
        pk.size,
        pk.size_rank,
        pk.size_b,
        pk.step,
        pk.step_b,
        p.target_token_id AS token_id,
        count(*) AS occurrences,
        max(pk.n_comparisons) AS n_comparisons,
        sum(pk.n_comparisons * pk.mean_kl) / sum(pk.n_comparisons) AS mean_kl
    FROM position_kl AS pk
    JOIN position AS p ON p.position_id = pk.position_id
    GROUP BY pk.suite_id, pk.corpus_id, pk.kind, pk.model_a, pk.size, pk.size_rank, pk.size_b, pk.step, pk.step_b,
             p.target_token_id
),
ce AS (
    SELECT
        r.model_id,
        c.step,
        p.corpus_id,
        p.target_token_id AS token_id,
        avg(ct.ce::double precision) AS mean_ce
    FROM checkpoint_token AS ct
    JOIN checkpoint AS c ON c.checkpoint_id = ct.checkpoint_id
    JOIN run AS r ON r.run_id = c.run_id
    JOIN position AS p ON p.position_id = ct.position_id
    GROUP BY r.model_id, c.step, p.corpus_id, p.target_token_id
)
SELECT
    s.name AS suite,
    kl.suite_id,
    co.name AS corpus,
    kl.corpus_id,
    kl.kind,
    kl.size,
    kl.size_rank,
    kl.size_b,
    kl.step,
    kl.step_b,
    kl.token_id,
    vt.token,
    kl.occurrences,
    kl.n_comparisons,
    kl.mean_kl,
    ce.mean_ce
FROM kl
JOIN suite AS s ON s.suite_id = kl.suite_id
JOIN corpus AS co ON co.corpus_id = kl.corpus_id
LEFT JOIN vocab_token AS vt ON vt.corpus_id = kl.corpus_id AND vt.token_id = kl.token_id
LEFT JOIN ce ON ce.model_id = kl.model_a AND ce.step = kl.step AND ce.corpus_id = kl.corpus_id
    AND ce.token_id = kl.token_id;

CREATE INDEX ix_token_divergence_group ON token_divergence (suite_id, corpus_id, kind, size, step);

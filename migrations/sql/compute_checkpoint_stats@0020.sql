-- compute_checkpoint_stats(checkpoint_ids, corpus_id): per checkpoint and corpus, the mean of each per-token
-- statistic over all positions (family 'all') and over the positions of every category of every family, computed
-- from the facts; the maintenance functions store it in the table checkpoint_stats (same columns).
--
-- Serves: reference_kl (family 'all': KL to uniform / unigram and CE curves), and the CE side of conditional_kl
-- and ce_difference (mean CE of a checkpoint over a category's positions).
-- Columns (as table checkpoint_stats):
--   checkpoint_id, corpus_id
--   family           'all' (every position), 'pos_t', 'pos_prev', 'group_t', 'group_prev', 'frequency_bin',
--                    'surprisal_bin', 'begin_of_word', 'end_of_word'
--   category         the category within the family ('all' for family 'all'; 'true'/'false' for the flags;
--                    frequency / surprisal bin labels); positions with a NULL tag belong to no POS category
--   category_order   sort key of bins (frequency / surprisal bin number, 0/1 for flags), NULL for POS tags
--   n_positions      positions of the checkpoint in the category
--   mean_ce, mean_entropy, mean_kl_uniform, mean_kl_unigram   means over those positions, nats
-- The surprisal bin of a position is that of the checkpoint's own model size (table final_surprisal).
-- One pass over the checkpoints' rows (primary-key range scans) with GROUPING SETS computes every family at once.
CREATE OR REPLACE FUNCTION compute_checkpoint_stats(p_checkpoint_ids int[], p_corpus_id int)
RETURNS TABLE (
    checkpoint_id int, corpus_id smallint, family text, category text, category_order int, n_positions bigint,
    mean_ce double precision, mean_entropy double precision, mean_kl_uniform double precision,
    mean_kl_unigram double precision
)
LANGUAGE sql STABLE
AS $$
SELECT checkpoint_id, corpus_id::smallint, family, category, category_order, n_positions,
       mean_ce, mean_entropy, mean_kl_uniform, mean_kl_unigram
FROM (
    SELECT
        ct.checkpoint_id,
        pf.corpus_id,
        CASE
            WHEN grouping(pf.pos_t) = 0 THEN 'pos_t'
            WHEN grouping(pf.pos_prev) = 0 THEN 'pos_prev'
            WHEN grouping(pf.group_t) = 0 THEN 'group_t'
            WHEN grouping(pf.group_prev) = 0 THEN 'group_prev'
            WHEN grouping(pf.frequency_bin) = 0 THEN 'frequency_bin'
            WHEN grouping(fs.surprisal_bin) = 0 THEN 'surprisal_bin'
            WHEN grouping(pf.begin_of_word) = 0 THEN 'begin_of_word'
            WHEN grouping(pf.end_of_word) = 0 THEN 'end_of_word'
            ELSE 'all'
        END AS family,
        CASE
            WHEN grouping(pf.pos_t) = 0 THEN pf.pos_t
            WHEN grouping(pf.pos_prev) = 0 THEN pf.pos_prev
            WHEN grouping(pf.group_t) = 0 THEN pf.group_t
            WHEN grouping(pf.group_prev) = 0 THEN pf.group_prev
            WHEN grouping(pf.frequency_bin) = 0 THEN pf.frequency_bin
            WHEN grouping(fs.surprisal_bin) = 0 THEN fs.surprisal_bin
            WHEN grouping(pf.begin_of_word) = 0 THEN pf.begin_of_word::text
            WHEN grouping(pf.end_of_word) = 0 THEN pf.end_of_word::text
            ELSE 'all'
        END AS category,
        CASE
            WHEN grouping(pf.frequency_bin) = 0 THEN pf.frequency_bin_order
            WHEN grouping(fs.surprisal_bin) = 0 THEN fs.surprisal_bin_order
            WHEN grouping(pf.begin_of_word) = 0 THEN pf.begin_of_word::int
            WHEN grouping(pf.end_of_word) = 0 THEN pf.end_of_word::int
        END AS category_order,
        count(*) AS n_positions,
        avg(ct.ce::double precision) AS mean_ce,
        avg(ct.entropy::double precision) AS mean_entropy,
        avg(ct.kl_uniform::double precision) AS mean_kl_uniform,
        avg(ct.kl_unigram::double precision) AS mean_kl_unigram
    FROM checkpoint_token AS ct
    JOIN position_features AS pf ON pf.position_id = ct.position_id
    JOIN checkpoint AS c ON c.checkpoint_id = ct.checkpoint_id
    JOIN run AS r ON r.run_id = c.run_id
    LEFT JOIN final_surprisal AS fs
        ON fs.model_id = r.model_id AND fs.corpus_id = pf.corpus_id AND fs.position_id = ct.position_id
        -- the checkpoints' sizes as an index condition (migration 0020): not a hash of every size's rows of the corpus
        AND fs.model_id = ANY (ARRAY(
            SELECT r2.model_id FROM checkpoint AS c2 JOIN run AS r2 ON r2.run_id = c2.run_id
            WHERE c2.checkpoint_id = ANY (p_checkpoint_ids)
        ))
    -- the ids as an index condition of the scan itself (not a join the planner could turn into a full scan)
    WHERE ct.checkpoint_id = ANY (p_checkpoint_ids) AND pf.corpus_id = p_corpus_id
    GROUP BY GROUPING SETS (
        (ct.checkpoint_id, pf.corpus_id),
        (ct.checkpoint_id, pf.corpus_id, pf.pos_t),
        (ct.checkpoint_id, pf.corpus_id, pf.pos_prev),
        (ct.checkpoint_id, pf.corpus_id, pf.group_t),
        (ct.checkpoint_id, pf.corpus_id, pf.group_prev),
        (ct.checkpoint_id, pf.corpus_id, pf.frequency_bin, pf.frequency_bin_order),
        (ct.checkpoint_id, pf.corpus_id, fs.surprisal_bin, fs.surprisal_bin_order),
        (ct.checkpoint_id, pf.corpus_id, pf.begin_of_word),
        (ct.checkpoint_id, pf.corpus_id, pf.end_of_word)
    )
) AS g
-- a NULL tag (or a position without a final surprisal) is no category
WHERE category IS NOT NULL
$$;

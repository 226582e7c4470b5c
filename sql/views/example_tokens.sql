-- example_tokens: the tokens of each POS(t) category (predicted tokens) and POS(t-1) category (context tokens) of a
-- corpus, most frequent first: what a category's outliers are made of.
--
-- Serves: the report's POS sections (example tokens beside outlier categories); ask `WHERE rank <= 5`.
-- Columns:
--   corpus, corpus_id
--   family                'pos_t' (the predicted token w(x+1)) or 'pos_prev' (the context token w(x))
--   category              the PTB tag
--   rank                  1 = the category's most frequent token in the corpus (ties by token id)
--   token_id, token       the token and its decoded text (leading space kept)
--   occurrences           positions of the corpus where it is the category's token
CREATE OR REPLACE VIEW example_tokens AS
WITH counted AS (
    SELECT p.corpus_id, 'pos_t' AS family, p.pos_t AS category, p.target_token_id AS token_id,
           count(*) AS occurrences
    FROM position p
    WHERE p.pos_t IS NOT NULL
    GROUP BY p.corpus_id, p.pos_t, p.target_token_id
    UNION ALL
    SELECT p.corpus_id, 'pos_prev', p.pos_prev, p.context_token_id, count(*)
    FROM position p
    WHERE p.pos_prev IS NOT NULL
    GROUP BY p.corpus_id, p.pos_prev, p.context_token_id
), ranked AS (
    SELECT corpus_id, family, category, token_id, occurrences,
           row_number() OVER (PARTITION BY corpus_id, family, category ORDER BY occurrences DESC, token_id) AS rank
    FROM counted
)
SELECT co.name AS corpus,
       r.corpus_id,
       r.family,
       r.category,
       r.rank,
       r.token_id,
       v.token,
       r.occurrences
FROM ranked r
JOIN corpus co ON co.corpus_id = r.corpus_id
JOIN vocab_token v ON v.corpus_id = r.corpus_id AND v.token_id = r.token_id;

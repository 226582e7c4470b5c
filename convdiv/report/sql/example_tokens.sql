-- The most frequent tokens of each POS(t) category (target tokens) and POS(t-1) category (context tokens).
-- params: corpus, per_category.  columns: family, category, token, occurrences
WITH counted AS (
    SELECT 'pos_t' AS family, p.pos_t AS category, p.target_token_id AS token_id, count(*) AS occurrences
    FROM position p JOIN corpus c ON c.corpus_id = p.corpus_id
    WHERE c.name = %(corpus)s AND p.pos_t IS NOT NULL
    GROUP BY p.pos_t, p.target_token_id
    UNION ALL
    SELECT 'pos_prev', p.pos_prev, p.context_token_id, count(*)
    FROM position p JOIN corpus c ON c.corpus_id = p.corpus_id
    WHERE c.name = %(corpus)s AND p.pos_prev IS NOT NULL
    GROUP BY p.pos_prev, p.context_token_id
), ranked AS (
    SELECT family, category, token_id, occurrences,
           row_number() OVER (PARTITION BY family, category ORDER BY occurrences DESC, token_id) AS rank
    FROM counted
)
SELECT r.family, r.category, v.token, r.occurrences
FROM ranked r
JOIN vocab_token v ON v.token_id = r.token_id AND v.corpus_id = (SELECT corpus_id FROM corpus WHERE name = %(corpus)s)
WHERE r.rank <= %(per_category)s
ORDER BY r.family, r.category, r.rank

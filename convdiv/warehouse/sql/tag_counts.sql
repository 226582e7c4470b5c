-- The positions of one corpus per POS tag, as the predicted token's tag (POS(t)) and as the context token's
-- (POS(t-1)); tag NULL: untagged positions (whitespace and special tokens, corpus/align.py). Reads the view
-- position_features, one pass with grouping sets. Parameters: corpus (name).
-- Columns: factor ('pos_t' or 'pos_prev'), tag, n_positions.
SELECT
    CASE WHEN grouping(pos_t) = 0 THEN 'pos_t' ELSE 'pos_prev' END AS factor,
    CASE WHEN grouping(pos_t) = 0 THEN pos_t ELSE pos_prev END AS tag,
    count(*) AS n_positions
FROM position_features
WHERE corpus = %(corpus)s
GROUP BY GROUPING SETS ((pos_t), (pos_prev))

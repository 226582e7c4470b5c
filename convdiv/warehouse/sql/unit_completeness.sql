-- What each done ingest unit holds against what it must hold (`convdiv db check`, `convdiv db rebuild`).
-- A unit `size=S/step=T` holds the checkpoint_token rows of the checkpoints of size S at step T and the pair_token
-- rows of its comparisons (seed_pair, consecutive_step) whose checkpoint b is one of them; `cross_size/step=T`
-- holds the pair_token rows of the cross_size comparisons whose checkpoint b is at step T. Every checkpoint or
-- comparison with rows on the unit's corpus must have one row per position of the corpus, and together at least
-- the rows the ledger recorded at publish (positions x checkpoints / comparisons written). Only units that differ
-- are returned; %(corpus_id)s NULL checks every corpus.
--
-- Columns:
--   unit_id, unit_key, suite, corpus      the unit
--   fact_table      checkpoint_token or pair_token
--   positions       positions of the corpus (the rows each checkpoint / comparison must hold)
--   recorded        rows the ledger recorded when the unit was published (NULL before that was recorded)
--   expected        greatest(recorded, positions x checkpoints or comparisons with rows)
--   present         rows found
--   incomplete      the first checkpoints / comparisons whose rows are not one per position ('id: rows')
WITH unit AS (
    SELECT u.unit_id, u.unit_key, u.suite_id, u.corpus_id, u.rows_checkpoint_token, u.rows_pair_token,
           substring(u.unit_key FROM '^size=(.*)/step=[0-9]+$') AS size,
           substring(u.unit_key FROM 'step=([0-9]+)$')::bigint AS step
    FROM ingest_unit u
    WHERE u.status = 'done' AND (%(corpus_id)s::int IS NULL OR u.corpus_id = %(corpus_id)s::int)
),
positions AS (
    SELECT p.corpus_id, count(*) AS n FROM position p
    WHERE p.corpus_id IN (SELECT corpus_id FROM unit) GROUP BY p.corpus_id
),
unit_checkpoint AS (
    SELECT unit.unit_id, c.checkpoint_id
    FROM unit
    JOIN model m ON m.suite_id = unit.suite_id AND (unit.size IS NULL OR m.size = unit.size)
    JOIN run r ON r.model_id = m.model_id
    JOIN checkpoint c ON c.run_id = r.run_id AND c.step = unit.step
),
entity AS (
    SELECT unit.unit_id, 'checkpoint_token' AS fact_table, uc.checkpoint_id AS id,
           (SELECT count(*) FROM checkpoint_token t JOIN position p ON p.position_id = t.position_id
             WHERE t.checkpoint_id = uc.checkpoint_id AND p.corpus_id = unit.corpus_id) AS n_rows
    FROM unit JOIN unit_checkpoint uc ON uc.unit_id = unit.unit_id
    WHERE unit.size IS NOT NULL
    UNION ALL
    SELECT unit.unit_id, 'pair_token', cmp.comparison_id,
           (SELECT count(*) FROM pair_token t JOIN position p ON p.position_id = t.position_id
             WHERE t.comparison_id = cmp.comparison_id AND p.corpus_id = unit.corpus_id)
    FROM unit JOIN unit_checkpoint uc ON uc.unit_id = unit.unit_id
    JOIN comparison cmp ON cmp.checkpoint_b = uc.checkpoint_id
     AND (CASE WHEN unit.size IS NULL THEN cmp.kind = 'cross_size' ELSE cmp.kind <> 'cross_size' END)
),
per_table AS (
    SELECT unit.unit_id, t.fact_table, pos.n AS positions,
           CASE t.fact_table WHEN 'checkpoint_token' THEN unit.rows_checkpoint_token ELSE unit.rows_pair_token END
             AS recorded,
           coalesce(sum(e.n_rows), 0)::bigint AS present,
           pos.n * count(e.id) FILTER (WHERE e.n_rows > 0) AS with_rows,
           (array_agg(e.id || ': ' || e.n_rows ORDER BY e.id) FILTER (WHERE e.n_rows > 0 AND e.n_rows <> pos.n))[1:5]
             AS incomplete
    FROM unit
    CROSS JOIN (VALUES ('checkpoint_token'), ('pair_token')) AS t(fact_table)
    JOIN positions pos ON pos.corpus_id = unit.corpus_id
    LEFT JOIN entity e ON e.unit_id = unit.unit_id AND e.fact_table = t.fact_table
    GROUP BY unit.unit_id, t.fact_table, pos.n, unit.rows_checkpoint_token, unit.rows_pair_token
)
SELECT unit.unit_id, unit.unit_key, s.name AS suite, co.name AS corpus, pt.fact_table, pt.positions, pt.recorded,
       greatest(coalesce(pt.recorded, 0), pt.with_rows) AS expected, pt.present,
       coalesce(array_to_string(pt.incomplete, ', '), '') AS incomplete
FROM per_table pt
JOIN unit ON unit.unit_id = pt.unit_id
JOIN suite s ON s.suite_id = unit.suite_id
JOIN corpus co ON co.corpus_id = unit.corpus_id
WHERE pt.present <> greatest(coalesce(pt.recorded, 0), pt.with_rows) OR pt.incomplete IS NOT NULL
ORDER BY s.name, co.name, unit.unit_key, pt.fact_table

-- Named queries of the maintained aggregates' rebuild and check (convdiv/warehouse/aggregates.py); the work itself
-- is done by the SQL functions rebuild_aggregates and check_aggregates (sql/). Placeholders are psycopg's name,
-- except in ANALYZE (no parameters in utility statements): its {table} is composed with psycopg.sql.

-- name: rebuild_settings
-- The rebuild's transaction: work_mem work_mem (aggregates.REBUILD_WORK_MEM: the grouping of every fact row
-- spills to disk at the default) and no JIT, both until COMMIT (SET LOCAL).
SELECT set_config('work_mem', %(work_mem)s, true), set_config('jit', 'off', true);

-- name: rebuild_aggregates
-- Recompute every aggregate of corpus corpus_id (NULL: every corpus) from the facts.
SELECT rebuild_aggregates(%(corpus_id)s);

-- name: analyze_aggregate
-- The planner's statistics of one rebuilt aggregate table, before the first analysis query.
ANALYZE {table};

-- name: check_aggregates
-- Every aggregate of corpus corpus_id (NULL: every corpus) compared with its recomputation (read-only).
SELECT * FROM check_aggregates(%(corpus_id)s);

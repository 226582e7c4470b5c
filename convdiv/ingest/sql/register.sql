-- The ingest's registration (convdiv/ingest/register.py): the dimension upserts of one suite (suite, model, run,
-- checkpoint, comparison) and the checkpoints a cross-size unit owns.
-- Each query starts with a line `-- name: <name>`; placeholders are psycopg's %(name)s (convdiv.warehouse.queries).

-- name: suite_origin
-- Where the suite registered under a name comes from (no row: the name is free).
SELECT origin FROM suite WHERE name = %(name)s;

-- name: upsert_suite
-- A name is one suite only when it comes from the same origin (folder or hub pattern): a name registered from
-- another origin is left untouched and no row is returned (the caller refuses; see migration 0006).
INSERT INTO suite (name, source, origin, tokenizer, tokenizer_sha256, spec)
VALUES (%(name)s, %(source)s, %(origin)s, %(tokenizer)s, %(tokenizer_sha256)s, %(spec)s)
ON CONFLICT (name) DO UPDATE
   SET tokenizer = EXCLUDED.tokenizer, tokenizer_sha256 = EXCLUDED.tokenizer_sha256, spec = EXCLUDED.spec
 WHERE suite.origin = EXCLUDED.origin
RETURNING suite_id;

-- name: upsert_model
INSERT INTO model (suite_id, size, size_rank, n_params)
VALUES (%(suite_id)s, %(size)s, %(size_rank)s, %(n_params)s)
ON CONFLICT (suite_id, size) DO UPDATE
   SET size_rank = EXCLUDED.size_rank, n_params = COALESCE(EXCLUDED.n_params, model.n_params)
RETURNING model_id;

-- name: upsert_run
INSERT INTO run (model_id, seed, source) VALUES (%(model_id)s, %(seed)s, %(source)s)
ON CONFLICT (model_id, seed) DO UPDATE SET source = EXCLUDED.source
RETURNING run_id;

-- name: upsert_checkpoint
INSERT INTO checkpoint (run_id, step, revision, weights_sha256)
VALUES (%(run_id)s, %(step)s, %(revision)s, %(weights_sha256)s)
ON CONFLICT (run_id, step) DO UPDATE
   SET revision = EXCLUDED.revision, weights_sha256 = COALESCE(EXCLUDED.weights_sha256, checkpoint.weights_sha256)
RETURNING checkpoint_id;

-- name: upsert_comparison
-- DO NOTHING, then the existing row: an existing comparison is never locked (a DO UPDATE would take a row lock that
-- waits on, and deadlocks with, a publish reading the row for its aggregates). No row: it was inserted by a
-- transaction that committed after this statement began; the caller asks again.
WITH inserted AS (
  INSERT INTO comparison (kind, checkpoint_a, checkpoint_b) VALUES (%(kind)s, %(checkpoint_a)s, %(checkpoint_b)s)
  ON CONFLICT (kind, checkpoint_a, checkpoint_b) DO NOTHING
  RETURNING comparison_id
)
SELECT comparison_id FROM inserted
UNION ALL
SELECT comparison_id FROM comparison
 WHERE kind = %(kind)s AND checkpoint_a = %(checkpoint_a)s AND checkpoint_b = %(checkpoint_b)s
LIMIT 1;

-- name: owned_checkpoints
-- Every registered checkpoint of a suite at (size, step); size NULL = every size (cross-size units).
SELECT c.checkpoint_id
FROM checkpoint c JOIN run r USING (run_id) JOIN model m USING (model_id)
WHERE m.suite_id = %(suite_id)s AND c.step = %(step)s AND (%(size)s::text IS NULL OR m.size = %(size)s::text);

-- The ingest ledger (convdiv/warehouse/ledger.py): runs and their leases, units and their claims, the publish
-- transaction; and the ledger's summary for `convdiv db status` (convdiv/warehouse/status.py).
-- Each query starts with a line `-- name: <name>`; placeholders are psycopg's %(name)s (convdiv.warehouse.queries).
-- Everything here runs through psycopg 3 directly (no ORM).

-- name: corpus_name
SELECT name FROM corpus WHERE corpus_id = %(corpus_id)s;

-- name: start_ingest_run
-- A run holds a lease from its start; its heartbeat thread renews it (renew_lease).
INSERT INTO ingest_run (convdiv_version, host, arguments, status, heartbeat_at, lease_until)
VALUES (%(convdiv_version)s, %(host)s, %(arguments)s, 'running', now(), now() + make_interval(secs => %(lease_s)s))
RETURNING ingest_run_id;

-- name: finish_ingest_run
-- An aborted run stays aborted: another process gave its units away.
UPDATE ingest_run SET finished_at = now(), status = %(status)s, lease_until = NULL
 WHERE ingest_run_id = %(ingest_run_id)s AND status = 'running';

-- name: renew_lease
-- No row: the run is no longer running (another process aborted it after its lease expired).
UPDATE ingest_run SET heartbeat_at = now(), lease_until = now() + make_interval(secs => %(lease_s)s)
 WHERE ingest_run_id = %(ingest_run_id)s AND status = 'running'
RETURNING ingest_run_id;

-- name: running_runs
-- Runs still marked running, with their "host:pid" (the reaper checks the pids of its own host).
SELECT ingest_run_id, host FROM ingest_run WHERE status = 'running';

-- name: abort_runs
-- Runs whose process is gone (checked on their host) or whose lease ended are aborted, saying why. A process never
-- aborts its own runs (a bench or test that holds a run without a heartbeat).
UPDATE ingest_run r
   SET status = 'aborted', finished_at = now(),
       aborted_reason = CASE WHEN r.ingest_run_id = ANY(%(gone)s::int[])
                             THEN 'process ' || r.host || ' is gone (seen from its host)'
                             ELSE 'lease expired at ' || r.lease_until::timestamptz(0) || ' (last heartbeat '
                                  || coalesce(r.heartbeat_at::timestamptz(0)::text, 'never') || ')' END
 WHERE r.status = 'running'
   AND (r.ingest_run_id = ANY(%(gone)s::int[]) OR r.lease_until < now()) AND r.host <> %(self_host)s
RETURNING r.ingest_run_id, r.host, r.aborted_reason, NOT (r.ingest_run_id = ANY(%(gone)s::int[]));

-- name: lease_lock_holders
-- Sessions of this database that belong to the claims of the given (lease-expired) runs (application_name
-- convdiv-claim:<run id>, see ledger.py): a hung worker, or a dead machine whose connection the server still believes
-- open. Their hold transactions keep row locks on the runs' units.
SELECT a.pid
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.application_name = ANY(%(applications)s::text[]);

-- name: give_back_units
-- The aborted runs' units are claimable again, and the ledger says so.
UPDATE ingest_unit
   SET status = 'pending', error = 'given back: ingest run ' || ingest_run_id || ' was aborted'
 WHERE ingest_run_id = ANY(%(run_ids)s::int[]) AND status = 'running';

-- name: runs_for_status
-- `convdiv db status`: runs still running (stale when their lease ended) and the most recent aborted ones.
SELECT r.ingest_run_id, r.host, r.status, r.started_at, r.finished_at, r.heartbeat_at, r.lease_until,
       r.aborted_reason, (r.status = 'running' AND r.lease_until < now()) AS stale,
       (SELECT count(*) FROM ingest_unit u WHERE u.ingest_run_id = r.ingest_run_id AND u.status = 'running')
         AS units_running
FROM ingest_run r
WHERE r.status = 'running'
   OR r.ingest_run_id IN (SELECT ingest_run_id FROM ingest_run WHERE status = 'aborted'
                           ORDER BY ingest_run_id DESC LIMIT %(aborted_limit)s)
ORDER BY r.ingest_run_id;

-- name: run_status_counts
SELECT status, count(*) FROM ingest_run GROUP BY status ORDER BY status;

-- name: ensure_unit
-- Registration stays out of the way of claims and publishes: an existing unit's row is read, never locked (a DO
-- UPDATE would wait for the row lock of the worker holding the unit, and deadlocked with a publish: issue 24).
-- No row: inserted by a transaction that committed after this statement began; the caller asks again.
WITH inserted AS (
  INSERT INTO ingest_unit (suite_id, corpus_id, unit_key) VALUES (%(suite_id)s, %(corpus_id)s, %(unit_key)s)
  ON CONFLICT (suite_id, corpus_id, unit_key) DO NOTHING
  RETURNING unit_id
)
SELECT unit_id FROM inserted
UNION ALL
SELECT unit_id FROM ingest_unit
 WHERE suite_id = %(suite_id)s AND corpus_id = %(corpus_id)s AND unit_key = %(unit_key)s
LIMIT 1;

-- name: claim_candidates
-- The next units (in the caller's order) that still need work and that no other claimer is looking at,
-- row-locked: LIMIT applies before the lock, so a claimer locks only the few rows it may take, never the whole
-- backlog (that would make a concurrent claimer believe no work is left).
-- A unit needs work when it is not done, when it was done under another configuration, or when --force asked
-- to redo everything finished before this ingest call started. Rows another worker holds (its hold's FOR KEY SHARE)
-- are skipped by SKIP LOCKED; a 'running' unit whose run still has a claim session connected (application_name
-- convdiv-claim:<run id>, of a role that may write the ledger) is skipped too: its claimer committed the claim and is
-- about to lock it (ledger.py, Claiming). A 'running' unit with neither is one whose holder is gone.
WITH claim_sessions AS (
  SELECT DISTINCT a.application_name
  FROM pg_stat_activity a
  WHERE a.datname = current_database() AND a.application_name LIKE 'convdiv-claim:%%'  -- ledger.CLAIM_APP
    AND has_table_privilege(a.usesysid, 'ingest_unit', 'UPDATE')
)
SELECT u.unit_id
FROM ingest_unit u
JOIN unnest(%(unit_ids)s::int[], %(config_hashes)s::text[]) WITH ORDINALITY AS w(unit_id, config_hash, ord)
  ON w.unit_id = u.unit_id
WHERE (u.status <> 'done'
       OR u.config_hash IS DISTINCT FROM w.config_hash
       OR (%(force_before)s::timestamptz IS NOT NULL AND u.finished_at < %(force_before)s::timestamptz))
  AND NOT (u.unit_id = ANY(%(exclude)s::int[]))
  AND NOT (u.status = 'running'
           AND ('convdiv-claim:' || u.ingest_run_id) IN (SELECT application_name FROM claim_sessions))
ORDER BY w.ord
LIMIT %(limit)s
FOR UPDATE OF u SKIP LOCKED;

-- name: mark_running
UPDATE ingest_unit
   SET status = 'running', ingest_run_id = %(ingest_run_id)s, claimed_at = now(), error = NULL
 WHERE unit_id = ANY(%(unit_ids)s::int[]);

-- name: hold_units
-- The claim's hold (ledger._hold): FOR KEY SHARE on the claimed units, in a transaction kept open while the worker
-- works on them. Conflicts only with FOR UPDATE (other claimers' SKIP LOCKED), not with the worker's own updates.
-- Only rows still claimed by this run are kept.
SELECT unit_id FROM ingest_unit
 WHERE unit_id = ANY(%(unit_ids)s::int[]) AND status = 'running' AND ingest_run_id = %(ingest_run_id)s
 ORDER BY unit_id
   FOR KEY SHARE;

-- name: mark_pending
-- A claim given back unprocessed (the worker stopped before reaching it).
UPDATE ingest_unit SET status = 'pending'
 WHERE unit_id = ANY(%(unit_ids)s::int[]) AND status = 'running' AND ingest_run_id = %(ingest_run_id)s;

-- name: mark_failed
UPDATE ingest_unit SET status = 'failed', error = %(error)s, finished_at = now()
 WHERE unit_id = ANY(%(unit_ids)s::int[]) AND ingest_run_id = %(ingest_run_id)s;

-- name: lock_unit_for_publish
-- The fence: a unit is published only while it is still 'running' under the publishing worker's run (a unit given
-- back after that run's lease expired, or claimed by another worker, is not).
-- FOR NO KEY UPDATE: the worker's own hold keeps FOR KEY SHARE on the row, which FOR UPDATE would wait for.
SELECT status, ingest_run_id FROM ingest_unit WHERE unit_id = %(unit_id)s FOR NO KEY UPDATE;

-- name: mark_done
UPDATE ingest_unit
   SET status = 'done', config_hash = %(config_hash)s, code_version = %(code_version)s, device = %(device)s,
       dtype = %(dtype)s, batch_tokens = %(batch_tokens)s, rows_checkpoint_token = %(rows_checkpoint_token)s,
       rows_pair_token = %(rows_pair_token)s, elapsed_s = %(elapsed_s)s, error = NULL, finished_at = now()
 WHERE unit_id = %(unit_id)s AND ingest_run_id = %(ingest_run_id)s;

-- name: publish_settings
-- For the publish transaction only: the aggregate maintenance groups a unit's rows (tens of thousands) in sorts
-- that spill to disk at the default 4 MB, and its statements are costed high enough to trigger JIT compilation,
-- which costs more than it saves on so few rows (bench/scale.py: maintain_aggregates 0.96 s -> 0.75 s per unit).
SET LOCAL work_mem = '64MB';
SET LOCAL jit = off;

-- name: stale_statistics
-- Tables the unit's aggregates read whose size passed twice what their last ANALYZE saw (autovacuum lags behind a
-- fast ingest; a fresh warehouse was analysed empty): the publish analyses them first, outside its transaction.
-- The fact tables are partitioned (migration 0011): a fact table is stale when one of its partitions is, or when
-- its partitions hold twice the rows its own statistics saw (autovacuum analyses partitions, never the parent,
-- whose statistics the planner uses for joins); ANALYZE of the parent analyses its partitions too.
SELECT c.relname
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
  AND c.relname = ANY(ARRAY['checkpoint_token', 'pair_token', 'position', 'vocab_token', 'checkpoint', 'run', 'model',
                            'comparison', 'comparison_group', 'final_surprisal', 'checkpoint_stats',
                            'comparison_stats', 'agg_token_ce', 'agg_position_kl'])
  AND pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * greatest(c.relpages, 0) + 8
UNION ALL
SELECT p.relname
FROM pg_class p
JOIN pg_inherits i ON i.inhparent = p.oid
JOIN pg_class c ON c.oid = i.inhrelid
WHERE p.relnamespace = current_schema()::regnamespace AND p.relkind = 'p'
  AND p.relname = ANY(ARRAY['checkpoint_token', 'pair_token'])
GROUP BY p.relname, p.reltuples
HAVING bool_or(pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * greatest(c.relpages, 0) + 8)
    OR sum(greatest(c.reltuples, 0)) > 2 * greatest(p.reltuples, 0) + 1000;

-- name: maintain_aggregates
-- The unit's aggregates, recomputed from its published facts in the same transaction (sql/060_maintain_aggregates.sql).
SELECT maintain_aggregates(%(corpus_id)s, %(checkpoint_ids)s::int[], %(writes_checkpoints)s, %(kinds)s::text[]);

-- name: set_checkpoint_weights
UPDATE checkpoint SET weights_sha256 = %(weights_sha256)s
 WHERE checkpoint_id = %(checkpoint_id)s AND weights_sha256 IS DISTINCT FROM %(weights_sha256)s;

-- name: set_model_params
UPDATE model SET n_params = %(n_params)s
 WHERE model_id = (SELECT r.model_id FROM run r JOIN checkpoint c USING (run_id)
                    WHERE c.checkpoint_id = %(checkpoint_id)s)
   AND n_params IS DISTINCT FROM %(n_params)s;

-- name: set_lock_timeout
-- Every lock a claim or publish takes waits at most this long (convdiv/warehouse/locks.py says how long); local:
-- true for the open transaction only (the claim's hold), false for the session (the claim connection, the reaper).
SELECT set_config('lock_timeout', %(timeout)s, %(local)s);

-- name: terminate_session
-- End a session that still holds a lock of a lease-expired run's unit (waits up to 5 s for it to go).
SELECT pg_terminate_backend(%(pid)s, 5000);

-- name: analyze_table
-- Refresh one table's statistics; the table is an identifier composed with psycopg.sql (DDL takes no parameters).
ANALYZE {table}

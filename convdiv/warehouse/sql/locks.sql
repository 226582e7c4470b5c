-- Named queries of the bounded lock waits (convdiv/warehouse/locks.py; set_lock_timeout is in ledger.sql): the sessions
-- that block a wait, and who they are when a command gives up. Placeholders are psycopg's name.

-- name: current_lock_timeout
-- The session's lock_timeout, restored after the short tries.
SELECT current_setting('lock_timeout');

-- name: blocking_pids
-- The sessions the server says block the backend pid's lock request (empty: none now).
SELECT pg_blocking_pids(%(pid)s);

-- name: lock_holders
-- The likely holders of a lock, at most three, oldest transaction first: the blockers seen by the watcher
-- (blockers; NULL: none was seen, so every other client session with an open transaction), less the
-- backends in exclude (the waiter's own sessions).
SELECT a.pid, a.usename, coalesce(a.application_name, ''), a.state,
       extract(epoch FROM now() - coalesce(a.state_change, a.xact_start))::int,
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 60)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
  AND a.backend_type = 'client backend'
  AND (%(blockers)s::int[] IS NULL OR a.pid = ANY(%(blockers)s::int[])) AND a.pid <> ALL(%(exclude)s::int[])
ORDER BY a.xact_start
LIMIT 3

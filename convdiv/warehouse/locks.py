"""Lock waits with a bound: what the ingest and corpus commands set, and who to blame when the bound is hit.

Readers never block a writer here (the ingest and `corpus add/remove` take only row locks and transaction-level
advisory locks; no DDL, no REFRESH), but a maintenance session (a manual LOCK TABLE, a `db upgrade`, an
administrator's VACUUM FULL) or another writer can still hold what a command needs. Every lock those commands
take is therefore taken under ``lock_timeout`` (``CONVDIV_LOCK_TIMEOUT`` seconds, default 60), and when it
expires the command stops with one line naming the sessions that most likely hold it: the other sessions of the
database with an open transaction, oldest first (pid, user, state and for how long).
"""

from __future__ import annotations

import os

import psycopg

from convdiv.errors import ConvdivError

LOCK_TIMEOUT_ENV = "CONVDIV_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 60.0


def lock_timeout_s() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConvdivError(f"{LOCK_TIMEOUT_ENV}={raw!r} is not a positive number of seconds (e.g. 60)")
    return value


def lock_timeout_setting() -> str:
    """The value for ``SET lock_timeout`` (milliseconds)."""
    return f"{int(lock_timeout_s() * 1000)}ms"


_HOLDERS = """
SELECT a.pid, a.usename, coalesce(a.application_name, ''), a.state,
       extract(epoch FROM now() - coalesce(a.state_change, a.xact_start))::int,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 60)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL
  AND a.backend_type = 'client backend'
ORDER BY a.xact_start
LIMIT 3
"""


def _duration(seconds: int) -> str:
    minutes, s = divmod(max(0, seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m} min" if hours else f"{m} min {s} s" if m else f"{s} s"


def holders(info: str) -> str:
    """The sessions that most likely hold the lock, as one clause ('' when none is found)."""
    try:
        with psycopg.connect(info, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(_HOLDERS).fetchall()
    except psycopg.Error:
        return ""
    parts = []
    for pid, user, app, state, seconds, query in rows:
        who = f"pid {pid} (user {user}{', ' + app if app else ''}, {state} for {_duration(seconds)}"
        parts.append(who + (f", last query: {query}" if query else "") + ")")
    return "; ".join(parts)


def lock_error(what: str, info: str, exc: BaseException) -> ConvdivError | None:
    """``exc`` as one line naming the holders when it is a lock timeout, else None."""
    if not isinstance(exc, psycopg.errors.LockNotAvailable) and not isinstance(
            getattr(exc, "orig", None), psycopg.errors.LockNotAvailable):
        return None
    found = holders(info)
    blame = f"held by {found}" if found else "held by another session (see pg_stat_activity)"
    return ConvdivError(
        f"{what}: waited {lock_timeout_s():g} s for a lock {blame}: end that transaction (or "
        f"SELECT pg_terminate_backend(pid)) and re-run, or raise {LOCK_TIMEOUT_ENV}; nothing was changed"
    )

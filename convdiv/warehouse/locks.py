"""Lock waits with a bound: what the ingest and corpus commands set, and who to blame when the bound is hit.

Readers never block the ingest nor ``corpus add`` (they take row locks, transaction-level advisory locks and, for
a new corpus's partitions, ``ATTACH PARTITION``'s SHARE UPDATE EXCLUSIVE; no REFRESH), but a maintenance session (a
manual LOCK TABLE, a `db upgrade`, an administrator's VACUUM FULL) or another writer can still hold what a command
needs, and ``corpus remove`` (dropping a corpus's partitions: ACCESS EXCLUSIVE on the fact tables) waits for readers
that keep a transaction open after reading facts. Every lock those commands take is therefore taken under
``lock_timeout`` (``CONVDIV_LOCK_TIMEOUT`` seconds, default 60), and when it expires the command stops with one line
naming the sessions that hold it (pid, user, state and for how long): the ones the server reports as blocking the
wait (``pg_blocking_pids``, asked from a second connection while it waits: the last try of an ACCESS EXCLUSIVE
request, or :func:`watch_blockers` around a publish); only when no such probe ran, the other sessions of the
database with an open transaction, oldest first.

ACCESS EXCLUSIVE is asked for in short tries (:func:`take_in_short_tries`): a request waiting in PostgreSQL's lock
queue makes every later request that conflicts with it wait too, so one 60-second wait behind an idle reader would
stall every new reader of the table for 60 s; tries of TRY_S stall them at most that long each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from convdiv.bounds import env_seconds
from convdiv.errors import ConvdivError
from convdiv.warehouse import queries

Q = queries.WAREHOUSE  # locks.sql

LOCK_TIMEOUT_ENV = "CONVDIV_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 60.0
# take_in_short_tries: each try waits at most TRY_S, then PAUSE_S without a request in the queue
TRY_S = 0.2
PAUSE_S = 0.3


def lock_timeout_s() -> float:
    """CONVDIV_LOCK_TIMEOUT in seconds: from 1 ms (lock_timeout's unit) to a day (convdiv.bounds)."""
    return env_seconds(LOCK_TIMEOUT_ENV, DEFAULT_LOCK_TIMEOUT_S)


def lock_timeout_setting() -> str:
    """The value for ``SET lock_timeout`` (milliseconds)."""
    return f"{int(lock_timeout_s() * 1000)}ms"


def take_in_short_tries(conn: psycopg.Connection, statement) -> None:
    """Run ``statement`` (a LOCK TABLE ... ACCESS EXCLUSIVE) in the connection's open transaction, in tries of TRY_S
    each (a savepoint each) PAUSE_S apart, until ``lock_timeout_s()`` has passed; then the last try's
    LockNotAvailable is raised (:func:`lock_error` turns it into one line naming the holders)."""
    row = conn.execute(Q["current_lock_timeout"]).fetchone()
    previous = row[0] if row is not None else "0"
    deadline = time.monotonic() + lock_timeout_s()
    while True:
        try:
            with conn.transaction():
                conn.execute(
                    Q["set_lock_timeout"], {"timeout": f"{int(min(TRY_S, lock_timeout_s()) * 1000)}ms", "local": True}
                )
                conn.execute(statement)
            break
        except psycopg.errors.LockNotAvailable:
            if time.monotonic() + PAUSE_S >= deadline:
                if _last_try_naming_blockers(conn, statement):
                    break  # the lock came free during the last try
                raise
            time.sleep(PAUSE_S)
    conn.execute(Q["set_lock_timeout"], {"timeout": previous, "local": True})


# How long the last try waits while another connection asks the server who blocks it (pg_blocking_pids).
PROBE_S = 1.0
# The sessions the last probe saw blocking this process's lock request (None: no probe ran): `holders` names only
# them, never idle readers that do not stand in the way.
_observed: dict[str, list[int] | None] = {"pids": None}


def _last_try_naming_blockers(conn: psycopg.Connection, statement) -> bool:
    """One more try of ``statement`` (PROBE_S) while a second connection records ``pg_blocking_pids`` of this
    session from the start (:func:`watch_blockers`); True when the lock was taken after all. The blockers are kept
    for :func:`holders`."""
    try:
        with watch_blockers(conn, "", after_s=0.0), conn.transaction():
            conn.execute(Q["set_lock_timeout"], {"timeout": f"{int(PROBE_S * 1000)}ms", "local": True})
            conn.execute(statement)
        return True
    except psycopg.errors.LockNotAvailable:
        return False


# watch_blockers: a block that runs this long (or half the lock timeout, if shorter) may be waiting for a lock; from
# then on a second connection asks the server every WATCH_EVERY_S who blocks it. Shorter blocks (most publishes)
# never open that connection.
WATCH_AFTER_S = 0.5
WATCH_EVERY_S = 0.1


@contextmanager
def watch_blockers(conn: psycopg.Connection, info: str, after_s: float | None = None) -> Iterator[None]:
    """Run the block (statements on ``conn`` under ``lock_timeout``) while a thread records which sessions the server
    says block ``conn`` (``pg_blocking_pids``); when the block raises, the blockers of its last wait are kept for
    :func:`holders`, so a lock timeout names only the sessions that stood in the way, never an idle reader. The
    watcher starts asking after ``after_s`` (default: WATCH_AFTER_S, or half the lock timeout if shorter)."""
    waiter = conn.info.backend_pid
    last: list[int] = []
    done = threading.Event()

    def watch() -> None:
        if done.wait(min(WATCH_AFTER_S, lock_timeout_s() / 2) if after_s is None else after_s):
            return
        try:
            with psycopg.connect(_conninfo(conn, info), autocommit=True, connect_timeout=10) as watcher:
                while not done.is_set():
                    row = watcher.execute(Q["blocking_pids"], {"pid": waiter}).fetchone()
                    if row and row[0]:
                        last[:] = row[0]
                    done.wait(WATCH_EVERY_S)
        except psycopg.Error:
            pass  # no watcher: holders() falls back to the sessions with an open transaction

    thread = threading.Thread(target=watch, name="convdiv-lock-watch", daemon=True)
    thread.start()
    try:
        yield
    except BaseException:
        done.set()
        thread.join()
        if last:  # else keep what a probe inside the block saw (take_in_short_tries), if any
            _observed["pids"] = sorted(last)
        raise
    finally:
        done.set()
        thread.join()


def _conninfo(conn: psycopg.Connection, info: str) -> str:
    """A connection string for a second session like ``conn`` (its password included)."""
    from psycopg.conninfo import make_conninfo

    if info:
        return info
    return make_conninfo(conn.info.dsn, password=conn.info.password) if conn.info.password else conn.info.dsn


def _duration(seconds: int) -> str:
    minutes, s = divmod(max(0, seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m} min" if hours else f"{m} min {s} s" if m else f"{s} s"


def holders(info: str, exclude: tuple[int, ...] = ()) -> str:
    """The sessions that hold the lock, as one clause ('' when none is found): the ones the server said block it
    (``pg_blocking_pids``, seen by the last try of :func:`take_in_short_tries`), else the sessions with an open
    transaction, oldest first (the likely holders of a wait that ended before anyone could ask), less the backends
    in ``exclude`` (the waiter's own sessions, e.g. an ingest's claim hold, which never block its publish)."""
    blockers, _observed["pids"] = _observed["pids"], None
    try:
        with psycopg.connect(info, autocommit=True, connect_timeout=10) as conn:
            rows = conn.execute(Q["lock_holders"], {"blockers": blockers, "exclude": list(exclude)}).fetchall()
    except psycopg.Error:
        return ""
    parts = []
    for pid, user, app, state, seconds, query in rows:
        who = f"pid {pid} (user {user}{', ' + app if app else ''}, {state} for {_duration(seconds)}"
        parts.append(who + (f", last query: {query}" if query else "") + ")")
    return "; ".join(parts)


def lock_error(what: str, info: str, exc: BaseException, exclude: tuple[int, ...] = ()) -> ConvdivError | None:
    """``exc`` as one line naming the holders (never the backends in ``exclude``) when it is a lock timeout, else
    None."""
    if not isinstance(exc, psycopg.errors.LockNotAvailable) and not isinstance(
        getattr(exc, "orig", None), psycopg.errors.LockNotAvailable
    ):
        return None
    found = holders(info, exclude)
    blame = f"held by {found}" if found else "held by another session (see pg_stat_activity)"
    return ConvdivError(
        f"{what}: waited {lock_timeout_s():g} s for a lock {blame}: end that transaction (or "
        f"SELECT pg_terminate_backend(pid)) and re-run, or raise {LOCK_TIMEOUT_ENV}; nothing was changed"
    )

"""The ingest ledger: units of work, how workers claim them, and the one transaction that publishes a unit.

A *unit* (table ``ingest_unit``) is the smallest piece of the warehouse that is ever written: all facts of one
(suite, corpus, unit_key). Its life: ``pending`` -> ``running`` (claimed) -> ``done`` | ``failed``.

Claiming (safe for many processes on many machines against one database; nothing in it is open to a role that
cannot write the ledger: issue 24):

1. ``SELECT ... FOR UPDATE SKIP LOCKED`` over the units that still need work, in a short transaction on the
   worker's claim connection, so that two claimers never look at the same row at the same time; the rows found are
   marked ``status = 'running'`` under the worker's ``ingest_run_id`` (with ``claimed_at``) and committed;
2. a second connection of the claim, the *hold*, then keeps a transaction open for as long as the worker works on
   the units (minutes) holding ``FOR KEY SHARE`` row locks on their ledger rows. That lock mode lets the worker's
   own updates of the rows through (status, publish: FOR NO KEY UPDATE) while every other claimer's ``FOR UPDATE
   SKIP LOCKED`` skips them; PostgreSQL drops it by itself when the hold's connection ends, so a worker killed with
   ``kill -9`` never leaves a unit locked: its ``running`` unit is simply claimable again. Row locks need UPDATE on
   the table: the read-only analyst (``convdiv db grant-analyst``) can neither take nor fake a claim (advisory
   locks, used before, were open to every role).
3. both connections carry ``application_name`` ``convdiv-claim:<ingest_run_id>``. Between step 1's commit and
   the hold's lock a unit is ``running`` but not locked for a few milliseconds: a ``running`` unit whose run still
   has such a session connected (of a role that may update the ledger: an analyst's session with that name counts
   for nothing) is never taken by another claimer; a ``running`` unit with neither lock nor session is one whose
   holder is gone, claimable at once. A lease-expired run's sessions are found by that name and ended
   (:func:`reap_runs`).

Publishing (:func:`publish_unit`) is one transaction on the claiming connection: the unit's rows checked (row
counts equal positions x checkpoints and positions x comparisons, every value finite, KL >= 0, every reference owned
by the unit; :mod:`convdiv.warehouse.unit_facts`), deletion of whatever the unit owned before, binary COPY of the
rows into the facts, the unit's aggregates, ``status = 'done'`` with provenance, COMMIT. A concurrent reader therefore sees a unit's rows
either all or not at all; a crash anywhere before COMMIT leaves the facts as they were.

Leases (:class:`Heartbeat`, :func:`reap_runs`): each worker's ``ingest_run`` holds a lease (``lease_until``,
CONVDIV_LEASE_SECONDS, default 60 s) that a heartbeat thread renews every third of it on its own connection. The
next ingest, claim or ``convdiv db status`` aborts a 'running' run whose lease ended, or at once one whose process
is gone on the same host (``host`` is "hostname:pid"): the run is marked ``aborted`` with the reason, a session
still holding one of its units' locks (a hung worker, a dead machine's half-open connection) is terminated, and its
units go back to ``pending``. The publish checks that its unit is still ``running`` under its own run, so a worker
whose units were given back can never publish them.

SQL lives in ``convdiv/warehouse/sql/ledger.sql`` (named queries, read by ``convdiv.warehouse.queries``); the
publish's checks and deletes in ``unit_facts.sql`` beside it.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from convdiv.errors import ConvdivError
from convdiv.warehouse import locks, partitions, queries, unit_facts

Q = queries.WAREHOUSE  # the ledger's queries: convdiv/warehouse/sql/ledger.sql


def _one(cursor: psycopg.Cursor) -> tuple[Any, ...]:
    """The row of a statement that always returns exactly one (``RETURNING``, an aggregate, a function call)."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("a statement that returns one row returned none")
    return row


# application_name of a claim's connections: CLAIM_APP + ingest_run_id (reap_runs ends them when the lease expires;
# claim_candidates in sql/ledger.sql spells the same prefix)
CLAIM_APP = "convdiv-claim:"

CHECKPOINT_TOKEN_TYPES = unit_facts.CHECKPOINT_TOKEN_TYPES
PAIR_TOKEN_TYPES = unit_facts.PAIR_TOKEN_TYPES

# Stage hooks: callables run with the stage's name as an ingest passes it, in the order they were added; empty in
# production. The fault tests install one (convdiv.testing.pause) to pause a process at a stage and kill it there.
# Stages: "register" (right after the units are registered), "compute" (before a group's extract pass), "copy"
# (inside a unit's publish transaction, right after the COPY of its rows into the facts), "publish" (inside the
# transaction, after facts and aggregates are written, before COMMIT), "between" (right after a unit's COMMIT).
STAGES = ("register", "compute", "copy", "publish", "between")
hooks: list[Callable[[str], None]] = []

# A worker's lease: long enough to ride out a busy machine (beats every third of it), short enough that a dead
# worker's units come back within a minute. Tests shorten it.
LEASE_ENV = "CONVDIV_LEASE_SECONDS"
DEFAULT_LEASE_S = 60.0


def conninfo(engine) -> str:
    """libpq connection string of a SQLAlchemy engine (psycopg is used directly for COPY and session locks)."""
    from convdiv.warehouse.engine import libpq_conninfo

    # key=value quoting keeps any password intact (a rendered URL does not percent-encode every character)
    return libpq_conninfo(engine.url)


def connect(info: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(info, **kwargs)


# --------------------------------------------------------------------------------------------- runs and units


def lease_seconds() -> float:
    """The lease of this process's runs (CONVDIV_LEASE_SECONDS, default 60 s)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConvdivError(
            f"{LEASE_ENV}={raw!r} is invalid: give a positive number of seconds (or unset it for "
            f"the default {DEFAULT_LEASE_S:g})"
        )
    return value


def start_run(info: str, arguments: Mapping, version: str) -> int:
    """Register one worker process (``ingest_run``, holding a lease from now) and return its id."""
    with connect(info) as conn:
        return _one(
            conn.execute(
                Q["start_ingest_run"],
                {
                    "convdiv_version": version,
                    "host": f"{socket.gethostname()}:{os.getpid()}",
                    "arguments": Jsonb(dict(arguments)),
                    "lease_s": lease_seconds(),
                },
            )
        )[0]


def finish_run(info: str, ingest_run_id: int, status: str) -> None:
    """Close a run (an aborted run stays aborted)."""
    with connect(info) as conn:
        conn.execute(Q["finish_ingest_run"], {"ingest_run_id": ingest_run_id, "status": status})


class Heartbeat:
    """Renews a run's lease every third of it, in a daemon thread on its own connection.

    A failed beat (server gone for a moment) is retried at the next one with a new connection; the worker's own
    work reports real database failures. ``aborted`` turns true when the run was aborted by another process.
    """

    def __init__(self, info: str, ingest_run_id: int, lease_s: float | None = None):
        self.info = info
        self.ingest_run_id = ingest_run_id
        self.lease_s = lease_s or lease_seconds()
        self.aborted = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"convdiv-heartbeat-{ingest_run_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        try:
            while not self._stop.wait(self.lease_s / 3):
                try:
                    if conn is None or conn.closed:
                        conn = connect(self.info, autocommit=True, connect_timeout=max(2, int(self.lease_s / 3)))
                    row = conn.execute(
                        Q["renew_lease"], {"ingest_run_id": self.ingest_run_id, "lease_s": self.lease_s}
                    ).fetchone()
                except psycopg.Error:
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
                if row is None:
                    self.aborted = True
                    return
        finally:
            if conn is not None:
                conn.close()


@dataclass(frozen=True)
class AbortedRun:
    ingest_run_id: int
    host: str
    reason: str


def _process_gone(host: str) -> bool:
    """True when ``host`` ("hostname:pid") names a process of this host that no longer runs (or is a zombie)."""
    name, _, pid_text = host.rpartition(":")
    if name != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: only its lease can tell
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    try:  # a killed child its parent has not reaped yet still answers signal 0
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def reap_runs(conn: psycopg.Connection) -> list[AbortedRun]:
    """Abort the runs whose process is gone (same host) or whose lease ended; give their units back.

    ``conn`` is in autocommit mode. Sessions that still hold a lock of an expired run's unit are terminated (they
    belong to a worker that lost its lease); without the privilege to do so, those units stay locked until the
    server drops the sessions, and the run is aborted all the same.
    """
    running = conn.execute(Q["running_runs"]).fetchall()
    gone = [run_id for run_id, host in running if _process_gone(host)]
    with conn.transaction():
        rows = conn.execute(
            Q["abort_runs"], {"gone": gone, "self_host": f"{socket.gethostname()}:{os.getpid()}"}
        ).fetchall()
    if not rows:
        return []
    expired = [r[0] for r in rows if r[3]]
    if expired:
        apps = [f"{CLAIM_APP}{run_id}" for run_id in expired]
        for (pid,) in conn.execute(Q["lease_lock_holders"], {"applications": apps}).fetchall():
            try:
                conn.execute(Q["terminate_session"], {"pid": pid})
            except psycopg.errors.InsufficientPrivilege:
                pass
    with conn.transaction():
        conn.execute(Q["give_back_units"], {"run_ids": [r[0] for r in rows]})
    return [AbortedRun(r[0], r[1], r[2]) for r in rows]


def reap(info: str) -> list[AbortedRun]:
    """:func:`reap_runs` on a connection of its own, waiting for locks no longer than claims do."""
    with connect(info, autocommit=True) as conn:
        conn.execute(Q["set_lock_timeout"], {"timeout": locks.lock_timeout_setting(), "local": False})
        return reap_runs(conn)


def ensure_units(conn: psycopg.Connection, suite_id: int, corpus_id: int, unit_keys: Sequence[str]) -> dict[str, int]:
    """Create the ledger rows of ``unit_keys`` if missing (idempotent); returns unit_key -> unit_id."""
    return {
        key: insert_or_get(conn, Q["ensure_unit"], {"suite_id": suite_id, "corpus_id": corpus_id, "unit_key": key})
        for key in unit_keys
    }


def insert_or_get(conn: psycopg.Connection, query: str, params: Mapping[str, Any]) -> int:
    """The id an ``INSERT ... ON CONFLICT DO NOTHING`` + ``SELECT`` query returns; asked again when the row was
    committed by another session while the statement ran (its snapshot saw neither)."""
    for _ in range(3):
        row = conn.execute(query, dict(params)).fetchone()
        if row is not None:
            return row[0]
    raise RuntimeError(f"no row after three tries of: {query.splitlines()[0]}")


@dataclass(frozen=True)
class Candidate:
    """A unit a worker may claim: its id, the config hash it would be done under, and its group label.

    Units with the same group label (one model size) can share forward passes, so a claim takes several.
    """

    unit_id: int
    config_hash: str
    group: str


@dataclass
class Claim:
    """Units held by one worker: row locks held by ``hold``'s open transaction (released by :meth:`release`);
    ``conn`` publishes them and records their state."""

    conn: psycopg.Connection
    unit_ids: list[int]
    ingest_run_id: int
    published: set[int] = field(default_factory=set)
    info: str = ""  # the connection string, for a second connection when a lock wait must be explained
    hold: psycopg.Connection | None = None

    def fail(self, error: str) -> None:
        """Mark the units not yet published as failed (earlier, published units stay done)."""
        todo = [u for u in self.unit_ids if u not in self.published]
        if todo and not self.conn.closed:
            with self.conn.transaction():
                self.conn.execute(
                    Q["mark_failed"], {"unit_ids": todo, "error": error[:2000], "ingest_run_id": self.ingest_run_id}
                )

    def abandon(self) -> None:
        """Give unprocessed units back as pending (the worker stops before reaching them)."""
        todo = [u for u in self.unit_ids if u not in self.published]
        if todo and not self.conn.closed:
            with self.conn.transaction():
                self.conn.execute(Q["mark_pending"], {"unit_ids": todo, "ingest_run_id": self.ingest_run_id})

    def release(self) -> None:
        """Drop the row locks by closing the sessions (closing also covers a broken connection)."""
        for conn in (self.hold, self.conn):
            if conn is not None and not conn.closed:
                conn.close()


def claim(
    info: str,
    candidates: Sequence[Candidate],
    ingest_run_id: int,
    *,
    limit: int | Mapping[str, int] = 1,
    force_before: datetime | None = None,
) -> Claim | None:
    """Claim up to ``limit`` units of one group that still need work; None when no unit is left for this worker.

    The first claimable candidate (in the given order) fixes the group; later candidates of the same group are
    added until the group's limit (``limit`` may map group -> limit). A candidate locked by another live worker
    is skipped, not waited for.
    """
    if not candidates:
        return None
    app = f"{CLAIM_APP}{ingest_run_id}"
    # explicit transaction() blocks only: never idle in a transaction
    conn = connect(info, autocommit=True, application_name=app)
    # every lock of the claim and of the publish transactions waits at most this long (see warehouse/locks.py)
    conn.execute(Q["set_lock_timeout"], {"timeout": locks.lock_timeout_setting(), "local": False})
    try:
        reap_runs(conn)  # units of dead or lease-expired workers become claimable now, not when someone notices
        by_id = {c.unit_id: c for c in candidates}

        def next_rows(pool: Sequence[Candidate], n: int, exclude: list[int]) -> list[int]:
            rows = conn.execute(
                Q["claim_candidates"],
                {
                    "unit_ids": [c.unit_id for c in pool],
                    "config_hashes": [c.config_hash for c in pool],
                    "force_before": force_before,
                    "exclude": exclude,
                    "limit": n,
                },
            ).fetchall()
            return [r[0] for r in rows]

        taken: list[int] = []
        with conn.transaction():
            # The first unit this worker can have fixes the group ...
            taken = next_rows(candidates, 1, [])
            # ... then more units of the same group, up to the group's limit.
            if taken:
                group = by_id[taken[0]].group
                wanted = limit if isinstance(limit, int) else limit.get(group, 1)
                same = [c for c in candidates if c.group == group]
                if wanted > 1:
                    taken += next_rows(same, wanted - 1, taken)
                conn.execute(Q["mark_running"], {"unit_ids": taken, "ingest_run_id": ingest_run_id})
        if not taken:
            conn.close()
            return None
        claim_ = Claim(conn=conn, unit_ids=taken, ingest_run_id=ingest_run_id, info=info)
        claim_.hold = _hold(info, app, claim_)
        if not claim_.unit_ids:
            claim_.release()
            return None
        return claim_
    except BaseException:  # cleanup, re-raised: the claim's connection never outlives a failed claim
        conn.close()
        raise


def _hold(info: str, app: str, claim_: Claim) -> psycopg.Connection:
    """The claim's hold: a connection whose open transaction keeps FOR KEY SHARE on the claimed units' rows. Units
    another claimer took meanwhile (only possible after CLAIM_GRACE_S) are dropped from the claim."""
    hold = connect(info, application_name=app)  # not autocommit: the first statement opens the transaction
    try:
        hold.execute(Q["set_lock_timeout"], {"timeout": locks.lock_timeout_setting(), "local": True})
        rows = hold.execute(
            Q["hold_units"], {"unit_ids": claim_.unit_ids, "ingest_run_id": claim_.ingest_run_id}
        ).fetchall()
    except BaseException:  # cleanup, re-raised: the hold's connection never outlives a failed hold
        hold.close()
        raise
    kept = {r[0] for r in rows}
    claim_.unit_ids = [u for u in claim_.unit_ids if u in kept]
    return hold


# --------------------------------------------------------------------------------------------- publish


@dataclass
class UnitRows:
    """Everything one unit writes, as numpy columns in the facts' column order."""

    unit_id: int
    unit_key: str
    corpus_id: int
    config_hash: str
    owned_checkpoint_ids: list[int]  # every checkpoint whose rows this unit replaces (the ones it writes)
    owned_kinds: list[str]  # comparison kinds it owns (with checkpoint_b among owned_checkpoint_ids)
    checkpoint_token: dict[str, np.ndarray]  # checkpoint_id, position_id, ce, entropy, kl_uniform, kl_unigram
    pair_token: dict[str, np.ndarray]  # comparison_id, position_id, kl_ab, kl_ba
    expected_checkpoint_rows: int
    expected_pair_rows: int
    owns_checkpoint_rows: bool = True  # False for cross-size units: they write (and replace) pair rows only
    weights: dict[int, tuple[str | None, int]] = field(default_factory=dict)  # checkpoint_id -> (sha256, n_params)


@dataclass(frozen=True)
class Provenance:
    code_version: str
    device: str
    dtype: str
    batch_tokens: int


def publish_unit(
    claim_: Claim,
    rows: UnitRows,
    provenance: Provenance,
    elapsed_s: float | Callable[[], float],
    timings: dict[str, float] | None = None,
) -> tuple[int, int]:
    """Validate and publish one claimed unit and mark it done, in ONE transaction; returns row counts.

    ``elapsed_s`` may be a callable, read just before the unit is marked done (so it covers the COPY too).
    ``timings``, when given, gets the seconds of the publish's parts, each timed as it runs: "facts" (statistics
    refresh, unit lock, checks, deletes, COPY), "aggregates" (maintain_aggregates) and "done" (weights, ledger
    row, COMMIT) (bench/scale.py, bench/ingest.py).
    """
    conn = claim_.conn
    if rows.unit_id not in claim_.unit_ids:
        raise ValueError(f"unit {rows.unit_key} is not held by this claim")
    if timings is not None:
        timings["_clock"] = time.perf_counter()
    try:
        _refresh_stale_statistics(claim_.conn)
        with locks.watch_blockers(conn, claim_.info):  # a lock wait is blamed on the sessions that block it
            counts = _publish(claim_, rows, provenance, elapsed_s, timings)
        _lap(timings, "done")
    except psycopg.Error as exc:
        own = (claim_.hold.info.backend_pid,) if claim_.hold is not None and not claim_.hold.closed else ()
        blocked = locks.lock_error(f"ingest unit {rows.unit_key}", claim_.info, exc, own)
        if blocked is not None:
            raise blocked from exc
        table = partitions.missing_partition(exc)
        if table is not None:  # the corpus's partition was dropped by hand (convdiv db check reports it)
            corpus = conn.execute(Q["corpus_name"], {"corpus_id": rows.corpus_id}).fetchone()
            label = repr(corpus[0]) if corpus else str(rows.corpus_id)
            raise ConvdivError(
                f"ingest unit {rows.unit_key}: corpus {label} has no partition of {table} for its positions (dropped "
                f"by hand? `convdiv db check` lists what differs); remove and re-add the corpus (`convdiv corpus "
                f"remove`, `convdiv corpus add`), then ingest again; nothing was published"
            ) from exc
        raise
    claim_.published.add(rows.unit_id)
    reached("between")
    return counts


def _lap(timings: dict[str, float] | None, part: str) -> None:
    """The seconds since the previous part of the publish ended, as ``timings[part]`` (when timings are asked for)."""
    if timings is not None:
        now = time.perf_counter()
        timings[part] = now - timings.pop("_clock", now)
        timings["_clock"] = now
        if part == "done":
            del timings["_clock"]


def _refresh_stale_statistics(conn: psycopg.Connection) -> None:
    """ANALYZE the tables the aggregates read that outgrew their statistics, each in its own short transaction (the
    claim connection is in autocommit): ANALYZE's lock then never sits inside a publish transaction."""
    for (table,) in conn.execute(Q["stale_statistics"]).fetchall():
        conn.execute(sql.SQL(Q["analyze_table"]).format(table=sql.Identifier(table)))


def _publish(
    claim_: Claim,
    rows: UnitRows,
    provenance: Provenance,
    elapsed_s: float | Callable[[], float],
    timings: dict[str, float] | None,
) -> tuple[int, int]:
    conn = claim_.conn
    with conn.transaction():
        status = conn.execute(Q["lock_unit_for_publish"], {"unit_id": rows.unit_id}).fetchone()
        if status is None or status[1] != claim_.ingest_run_id:
            raise ConvdivError(f"ingest unit {rows.unit_key}: claimed by another worker meanwhile; not published")
        if status[0] != "running":
            raise ConvdivError(
                f"ingest unit {rows.unit_key}: given back by another process (this worker's ingest run "
                f"{claim_.ingest_run_id} lost its lease: no heartbeat for {lease_seconds():g} s); not published: re-run "
                "convdiv ingest (raise CONVDIV_LEASE_SECONDS if this machine stalls that long)"
            )
        with conn.cursor() as cur:
            # several statements each, no parameters: psycopg sends each file section as one simple query
            cur.execute(Q["publish_settings"])
            owned = {
                "checkpoint_ids": rows.owned_checkpoint_ids,
                "corpus_id": rows.corpus_id,
                "kinds": rows.owned_kinds,
            }
            staged_ckpt, staged_pair = unit_facts.write(
                cur,
                rows.unit_key,
                rows.corpus_id,
                owned,
                rows.checkpoint_token,
                rows.pair_token,
                (rows.expected_checkpoint_rows, rows.expected_pair_rows),
                rows.owns_checkpoint_rows,
            )
            reached("copy")
            _lap(timings, "facts")
            cur.execute(Q["maintain_aggregates"], {**owned, "writes_checkpoints": rows.owns_checkpoint_rows})
            _lap(timings, "aggregates")
            for checkpoint_id, (sha, n_params) in rows.weights.items():
                if sha:
                    cur.execute(Q["set_checkpoint_weights"], {"checkpoint_id": checkpoint_id, "weights_sha256": sha})
                if n_params:
                    cur.execute(Q["set_model_params"], {"checkpoint_id": checkpoint_id, "n_params": n_params})
            cur.execute(
                Q["mark_done"],
                {
                    "unit_id": rows.unit_id,
                    "ingest_run_id": claim_.ingest_run_id,
                    "config_hash": rows.config_hash,
                    "code_version": provenance.code_version,
                    "device": provenance.device,
                    "dtype": provenance.dtype,
                    "batch_tokens": provenance.batch_tokens,
                    "rows_checkpoint_token": staged_ckpt,
                    "rows_pair_token": staged_pair,
                    "elapsed_s": float(elapsed_s() if callable(elapsed_s) else elapsed_s),
                },
            )
            reached("publish")
    return staged_ckpt, staged_pair


def reached(stage: str) -> None:
    """An ingest passes ``stage`` (one of :data:`STAGES`): run the installed hooks (none in production)."""
    for hook in hooks:
        hook(stage)

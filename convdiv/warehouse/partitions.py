"""The fact tables' partitions: one per corpus, over the corpus's position-id range.

``checkpoint_token`` and ``pair_token`` are ``PARTITION BY RANGE (position_id)`` (migration 0011). Every corpus's
positions are one contiguous id range, because ``corpus add`` assigns them under one advisory lock
(:func:`lock_position_ids`), so each corpus gets one partition of each fact table, ``<table>_c<corpus_id>``, bounded
``FROM (first position_id) TO (last + 1)``. The partition key is already the second column of both primary keys, so
the keys stay two integers and every partition has its own primary key of the same two columns.

What it buys: removing a corpus drops its two partitions (no scan, no dead rows; :func:`drop`), and a query bound
to a corpus's positions reads its partitions only (the planner prunes the others). Everything else (views, the
aggregate functions, the ingest's INSERT into the parent) reads and writes the parent tables as before.

Locks: :func:`attach` ends with ``ATTACH PARTITION``, which takes SHARE UPDATE EXCLUSIVE on the parent: readers and
ingests are neither blocked nor blocking. :func:`drop` needs ACCESS EXCLUSIVE on the parent; a request for it that
waits in the lock queue would stall every new reader of the facts behind it, so it is asked for in short tries
(:func:`convdiv.warehouse.locks.take_in_short_tries`) until ``CONVDIV_LOCK_TIMEOUT`` passes.

SQL: ``convdiv/warehouse/sql/partitions.sql``. Functions take a psycopg connection or a SQLAlchemy connection (its
psycopg connection is used, in the same transaction).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from convdiv.errors import ConvdivError
from convdiv.warehouse import locks, queries
from convdiv.warehouse.engine import psycopg_connection

# fact table -> the first column of its primary key (the second is the partition key, position_id)
FACT_TABLES = {"checkpoint_token": "checkpoint_id", "pair_token": "comparison_id"}
PARTITION_KEY = "RANGE (position_id)"
Q = queries.WAREHOUSE


def name(table: str, corpus_id: int) -> str:
    """The partition of ``table`` that holds corpus ``corpus_id``'s rows."""
    return f"{table}_c{int(corpus_id)}"


def lock_position_ids(conn) -> None:
    """Serialise position-id assignment until the caller's transaction ends (take it before COPYing positions)."""
    psycopg_connection(conn).execute(Q["lock_position_ids"])


def position_range(conn, corpus_id: int) -> tuple[int, int] | None:
    """The corpus's position ids as a half-open range [lo, hi), None when it has no positions; refused when another
    corpus has positions inside it (such a range cannot be one corpus's partition)."""
    row = psycopg_connection(conn).execute(Q["corpus_position_range"], {"corpus_id": corpus_id}).fetchone()
    lo, hi, others = row if row is not None else (None, None, None)  # an aggregate: always one row
    if lo is None:
        return None
    if others:
        raise ConvdivError(
            f"corpus {corpus_id}: its positions (position_id {lo} to {hi - 1}) are interleaved with "
            f"those of corpus {others}: they cannot be one partition"
        )
    return int(lo), int(hi)


def attach(conn, corpus_id: int) -> tuple[int, int] | None:
    """Create and attach the corpus's partition of each fact table, in the caller's transaction (right after its
    positions were written); returns the range they cover (None: the corpus has no positions, so no partitions)."""
    raw = psycopg_connection(conn)
    partitioned = {r[0] for r in raw.execute(Q["partitioned_facts"], {"tables": list(FACT_TABLES)})}
    if partitioned != set(FACT_TABLES):
        raise ConvdivError(
            "the fact tables are not partitioned (a warehouse before migration 0011): run `convdiv db upgrade`"
        )
    bounds = position_range(raw, corpus_id)
    if bounds is None:
        return None
    lo, hi = bounds
    for table, key in FACT_TABLES.items():
        partition = name(table, corpus_id)
        comment = (
            f"Partition of {table}: its rows on the positions of corpus {corpus_id} (position_id {lo} to "
            f"{hi - 1}); dropped with the corpus."
        )
        raw.execute(
            sql.SQL(Q["create_partition"]).format(
                partition=sql.Identifier(partition),
                parent=sql.Identifier(table),
                primary_key=sql.Identifier(f"pk_{partition}"),
                key=sql.Identifier(key),
                comment=sql.Literal(comment),
                lo=sql.Literal(lo),
                hi=sql.Literal(hi),
            )
        )
    return lo, hi


def drop(conn, corpus_id: int) -> list[str]:
    """Drop the corpus's partitions (and with them its facts) in the caller's transaction; returns their names.

    Call it last in the transaction: the ACCESS EXCLUSIVE lock it takes on the fact tables is held until COMMIT.
    """
    raw = psycopg_connection(conn)
    wanted = [name(table, corpus_id) for table in FACT_TABLES]
    found = [r[0] for r in raw.execute(Q["existing_partitions"], {"tables": list(FACT_TABLES), "names": wanted})]
    if not found:
        return []
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in [*FACT_TABLES, *found])
    locks.take_in_short_tries(raw, sql.SQL(Q["lock_exclusive"]).format(tables=tables))
    raw.execute(sql.SQL(Q["drop_partitions"]).format(partitions=sql.SQL(", ").join(sql.Identifier(t) for t in found)))
    return found


def names(conn) -> set[str]:
    """Every partition of the fact tables."""
    return {r[0] for r in psycopg_connection(conn).execute(Q["partition_names"], {"tables": list(FACT_TABLES)})}


def keys(conn, tables) -> dict[str, str | None]:
    """Each of ``tables`` that exists -> its partition key as the server prints it (None: not partitioned)."""
    return dict(psycopg_connection(conn).execute(Q["partition_keys"], {"tables": list(tables)}).fetchall())


def drift(conn) -> list[str]:
    """One line per difference between the fact tables' partitions and the corpora (``convdiv db check``)."""
    problems = []
    for parent, partition, corpus, expected, live in psycopg_connection(conn).execute(
        Q["partition_drift"], {"tables": list(FACT_TABLES)}
    ):
        if live is None:
            problems.append(
                f"partition missing: {partition} of {parent} for corpus {corpus!r} ({expected}); "
                f"remove and re-add the corpus (`convdiv corpus remove`, `convdiv corpus add`)"
            )
        elif expected is None:
            problems.append(f"unexpected partition: {partition} of {parent} ({live}) belongs to no corpus")
        else:
            problems.append(
                f"partition bounds differ: {partition} of {parent} is {live}, corpus {corpus!r} needs {expected}"
            )
    return problems


def missing_partition(exc: BaseException) -> str | None:
    """The fact table named by a 'no partition of relation ... found for row' error (a row whose position has no
    partition), else None."""
    if isinstance(exc, psycopg.errors.CheckViolation):
        message = exc.diag.message_primary or ""
        if message.startswith("no partition of relation"):
            return next((t for t in FACT_TABLES if f'"{t}"' in message), message)
    return None

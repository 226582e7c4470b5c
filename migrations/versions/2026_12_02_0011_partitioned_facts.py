"""fact tables partitioned by position_id, one partition per corpus

Why: removing a corpus deleted its facts with a join over every fact row of the warehouse, and a query bound to one
corpus's positions read every corpus's rows. checkpoint_token and pair_token become PARTITION BY RANGE
(position_id), one partition per corpus (<table>_c<corpus_id>, FROM its first position_id TO its last + 1; a
corpus's positions are one id range): removing a corpus drops its partitions, and a query bound to a corpus's
positions reads its partitions only. Keys are unchanged: two integers, position_id (the partition key) already the
second column of both primary keys. Views, aggregate functions and aggregate tables are unchanged (they read the
parent tables; the aggregates are keyed by checkpoint, comparison and corpus). From now on `corpus add` creates and
attaches a new corpus's partitions and `corpus remove` drops them (convdiv/warehouse/partitions.py).

Upgrade, per fact table: a partitioned table is created beside the old one (same columns, NOT NULL and column
comments), one partition per corpus is attached, the rows move with one INSERT ... SELECT (routed to their
partitions), the primary keys are built after the rows (each partition's, then the parent's, which adopts them),
the table's privileges are copied, the views that read the old table are pointed at the new one (CREATE OR REPLACE
VIEW with their own definitions, so nothing else is dropped), the old table is dropped and the new one analysed.
Refused before anything changes when two corpora's position ids interleave (such ranges cannot be one partition
each), naming the corpora. Downgrade: the same steps back to plain tables, with the same rows.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from convdiv.errors import ConvdivError

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# fact table -> first column of its primary key (the second is position_id)
FACTS = {"checkpoint_token": "checkpoint_id", "pair_token": "comparison_id"}
# table comments before (0010) and after (0011)
COMMENTS = {
    "checkpoint_token": (
        "Per checkpoint and position: surprisal, entropy and KL to the reference distributions.",
        "Per checkpoint and position: surprisal, entropy and KL to the reference distributions. "
        "Partitioned by position_id: one partition per corpus (checkpoint_token_c<corpus_id>).",
    ),
    "pair_token": (
        "Per comparison and position: KL between the two checkpoints' next-token distributions.",
        "Per comparison and position: KL between the two checkpoints' next-token distributions. "
        "Partitioned by position_id: one partition per corpus (pair_token_c<corpus_id>).",
    ),
}

_RANGES = """
SELECT p.corpus_id, co.name, min(p.position_id) AS lo, max(p.position_id) + 1 AS hi
FROM position p JOIN corpus co ON co.corpus_id = p.corpus_id
GROUP BY p.corpus_id, co.name
ORDER BY lo, p.corpus_id
"""
# the views whose rules read the table (they are bound to it, not to its name)
_DEPENDENT_VIEWS = """
SELECT DISTINCT v.relname::text, pg_get_viewdef(v.oid)
FROM pg_depend d
JOIN pg_rewrite r ON r.oid = d.objid
JOIN pg_class v ON v.oid = r.ev_class
WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.refobjid = to_regclass(%s) AND v.oid <> d.refobjid
ORDER BY 1
"""
_GRANTS = """
SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
       a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner
ORDER BY 1, 2
"""


def upgrade() -> None:
    connection = op.get_bind()
    ranges = connection.exec_driver_sql(_RANGES).fetchall()
    _refuse_interleaved(ranges)
    for table, key in FACTS.items():
        _rebuild(connection, table, key, ranges, COMMENTS[table][1])


def downgrade() -> None:
    connection = op.get_bind()
    for table, key in FACTS.items():
        _rebuild(connection, table, key, None, COMMENTS[table][0])


def _refuse_interleaved(ranges) -> None:
    clashes = []
    widest = None  # the corpus reaching furthest so far
    for corpus_id, name, lo, hi in ranges:
        if widest is not None and lo < widest[3]:
            clashes.append(f"{widest[1]!r} (position_id {widest[2]} to {widest[3] - 1}) and {name!r} "
                           f"({lo} to {hi - 1})")
        if widest is None or hi > widest[3]:
            widest = (corpus_id, name, lo, hi)
    if clashes:
        raise ConvdivError(
            "migration 0011 (one partition of the fact tables per corpus) needs each corpus's positions to be one id "
            f"range, but the position ids of corpora {'; '.join(clashes)} interleave (added concurrently by an older "
            "convdiv): remove one of each pair with the convdiv that added them (`convdiv corpus remove NAME`), run "
            "`convdiv db upgrade` again, then add it again; nothing was changed")


def _rebuild(connection, table: str, key: str, ranges, comment: str) -> None:
    """``table`` rebuilt with the same rows: partitioned with one partition per range (``ranges`` given) or plain
    (None)."""
    run = connection.exec_driver_sql
    old, new = f"{table}_old", f"{table}_new"
    dependent = connection.exec_driver_sql(_DEPENDENT_VIEWS, (table,)).fetchall()
    grants = connection.exec_driver_sql(_GRANTS, (table,)).fetchall()

    partitioned = " PARTITION BY RANGE (position_id)" if ranges is not None else ""
    run(f"CREATE TABLE {new} (LIKE {table} INCLUDING COMMENTS){partitioned}")
    run(f"COMMENT ON TABLE {new} IS {_literal(comment)}")
    partitions = []
    for corpus_id, _, lo, hi in ranges or ():
        partition = f"{table}_c{int(corpus_id)}"
        partitions.append(partition)
        run(f"CREATE TABLE {partition} (LIKE {table} INCLUDING COMMENTS)")
        run(f"COMMENT ON TABLE {partition} IS " + _literal(
            f"Partition of {table}: its rows on the positions of corpus {int(corpus_id)} (position_id {int(lo)} to "
            f"{int(hi) - 1}); dropped with the corpus."))
        run(f"ALTER TABLE {new} ATTACH PARTITION {partition} FOR VALUES FROM ({int(lo)}) TO ({int(hi)})")
    try:
        with connection.begin_nested():
            run(f"INSERT INTO {new} SELECT * FROM {table}")
    except sa.exc.IntegrityError as exc:  # a row whose position_id is in no corpus's range
        detail = getattr(getattr(exc.orig, "diag", None), "message_detail", None) or str(exc.orig)
        raise ConvdivError(
            f"migration 0011: {table} has rows on positions of no corpus ({detail.strip()}; facts left behind by a "
            f"delete made by hand): delete them (DELETE FROM {table} f WHERE NOT EXISTS (SELECT 1 FROM position p "
            "WHERE p.position_id = f.position_id)) and run `convdiv db upgrade` again; nothing was changed") from None

    # primary keys after the rows (one sort each instead of row-by-row index maintenance); the parent's adopts the
    # partitions' own, so every name follows the convention (pk_<table>)
    run(f"ALTER TABLE {table} RENAME CONSTRAINT pk_{table} TO pk_{old}")
    for partition in partitions:
        run(f"ALTER TABLE {partition} ADD CONSTRAINT pk_{partition} PRIMARY KEY ({key}, position_id)")
    run(f"ALTER TABLE {new} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key}, position_id)")
    for privilege, grantee, grantable in grants:
        for target in (new, *partitions):
            run(f"GRANT {privilege} ON {target} TO {grantee}{' WITH GRANT OPTION' if grantable else ''}")

    run(f"ALTER TABLE {table} RENAME TO {old}")
    run(f"ALTER TABLE {new} RENAME TO {table}")
    for view, definition in dependent:  # their definitions name the table: they now read the new one
        run(f"CREATE OR REPLACE VIEW {view} AS {definition}")
    run(f"DROP TABLE {old}")
    run(f"ANALYZE {table}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"

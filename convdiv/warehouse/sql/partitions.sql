-- Named queries of the fact tables' partitions (convdiv/warehouse/partitions.py): checkpoint_token and pair_token
-- are PARTITION BY RANGE (position_id) with one partition per corpus (migration 0011), <table>_c<corpus_id>.
-- Placeholders are psycopg's %(name)s, except in the DDL (create_partition, drop_partitions, lock_exclusive):
-- PostgreSQL takes no parameters in DDL, so its {name} fields are filled by psycopg.sql composition in Python,
-- identifiers with sql.Identifier and numbers and text with sql.Literal (quoted by psycopg, never pasted).

-- name: lock_position_ids
-- Serialises the assignment of position ids (corpus add's position COPY) until the end of the transaction, so that
-- every corpus's positions are one contiguous id range: the range its partitions cover.
SELECT pg_advisory_xact_lock(hashtext('convdiv.position_ids'));

-- name: partitioned_facts
-- Which of the fact tables are partitioned (all of them from migration 0011 on; none before).
SELECT c.relname
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'p' AND c.relname = ANY(%(tables)s::text[]);

-- name: corpus_position_range
-- The position ids of a corpus as a half-open range [lo, hi) (NULLs: no positions), and the other corpora with
-- positions inside it (names, quoted; NULL when none): a range shared with another corpus cannot be its partition.
SELECT r.lo, r.hi,
       (SELECT string_agg(DISTINCT quote_literal(co.name), ', ')
          FROM position p JOIN corpus co ON co.corpus_id = p.corpus_id
         WHERE p.position_id >= r.lo AND p.position_id < r.hi AND p.corpus_id <> %(corpus_id)s) AS others
FROM (SELECT min(position_id) AS lo, max(position_id) + 1 AS hi FROM position WHERE corpus_id = %(corpus_id)s) AS r;

-- name: create_partition
-- A corpus's partition of one fact table: a plain table with the parent's columns (types, NOT NULL, comments) and
-- its own primary key, attached to the parent. ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent (not
-- ACCESS EXCLUSIVE, as CREATE TABLE ... PARTITION OF would): readers and ingests go on meanwhile. The table is empty,
-- so ATTACH's check that its rows fit the bounds reads nothing.
CREATE TABLE {partition} (LIKE {parent} INCLUDING COMMENTS);
ALTER TABLE {partition} ADD CONSTRAINT {primary_key} PRIMARY KEY ({key}, position_id);
COMMENT ON TABLE {partition} IS {comment};
ALTER TABLE {parent} ATTACH PARTITION {partition} FOR VALUES FROM ({lo}) TO ({hi});

-- name: existing_partitions
-- Those of the given names that are partitions of the fact tables (a table of that name that is not is left alone).
SELECT c.relname
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relnamespace = current_schema()::regnamespace AND p.relname = ANY(%(tables)s::text[])
  AND c.relname = ANY(%(names)s::text[])
ORDER BY c.relname;

-- name: lock_exclusive
-- What dropping a partition needs: ACCESS EXCLUSIVE on the parents and on the partitions (ONLY: not on the other
-- corpora's partitions). Taken in short tries by convdiv.warehouse.locks.lock_exclusive.
LOCK TABLE ONLY {tables} IN ACCESS EXCLUSIVE MODE;

-- name: drop_partitions
-- A corpus's facts, all at once: its partitions go, whatever their size (no scan, no dead rows left behind).
DROP TABLE {partitions};

-- name: partition_drift
-- The fact tables' partitions against the corpora: one row per difference (a corpus with positions but no partition
-- of a fact table, a partition whose bounds are not its corpus's position range, a partition of no corpus).
WITH expected AS (
    SELECT t.parent, t.parent || '_c' || r.corpus_id AS partition, r.name AS corpus,
           format('FOR VALUES FROM (%%s) TO (%%s)', r.lo, r.hi) AS bound
    FROM unnest(%(tables)s::text[]) AS t (parent)
    CROSS JOIN (
        SELECT p.corpus_id, co.name, min(p.position_id) AS lo, max(p.position_id) + 1 AS hi
        FROM position p JOIN corpus co ON co.corpus_id = p.corpus_id
        GROUP BY p.corpus_id, co.name
    ) AS r
    WHERE EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
                                              AND c.relname = t.parent AND c.relkind = 'p')
),
live AS (
    SELECT p.relname::text AS parent, c.relname::text AS partition, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relnamespace = current_schema()::regnamespace AND p.relname = ANY(%(tables)s::text[])
)
SELECT coalesce(e.parent, l.parent) AS parent, coalesce(e.partition, l.partition) AS partition, e.corpus,
       e.bound AS expected, l.bound AS live
FROM expected e
FULL JOIN live l ON l.parent = e.parent AND l.partition = e.partition
WHERE e.bound IS DISTINCT FROM l.bound
ORDER BY 1, 2;

-- name: partition_names
-- Every partition of the fact tables (not compared as tables of their own by the schema-drift check).
SELECT c.relname
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relnamespace = current_schema()::regnamespace AND p.relname = ANY(%(tables)s::text[]);

-- name: partition_keys
-- The partition key of each of the given tables as the server prints it (NULL: not partitioned).
SELECT c.relname, CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS key
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(tables)s::text[]);

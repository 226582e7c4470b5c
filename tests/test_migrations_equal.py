"""A warehouse migrated from 0001 equals one created at head.

Database A: migrated to 0001, a little data written with 0001's schema (one corpus, two sizes x two seeds x three
steps, seed pairs and consecutive steps), then migrated to head. Database B: migrated empty to head, then given the
same base rows (copied from A) and its aggregates computed by head's rebuild_aggregates. Their catalogs (tables,
columns, types, defaults, constraints, indexes, triggers, views, functions, comments, database settings) are equal,
A has no drift from the models and the live SQL files (``convdiv db check``), and every analytics view and aggregate
table holds the same rows in both.
"""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from convdiv.testing import databases
from convdiv.warehouse import aggregates, catalog, partitions, schema, views
from convdiv.warehouse.models import Base

# The tables of 0001, parents first: A's rows of these are copied into B.
BASE_TABLES = (
    "suite", "corpus", "vocab_token", "position", "model", "run", "checkpoint", "checkpoint_token", "comparison",
    "pair_token",
)  # fmt: skip
FACT_TABLES = ("checkpoint_token", "pair_token")
SIZES, SEEDS, STEPS = ("s", "m"), (1, 2), (0, 100, 1000)
POSITIONS = (("NN", "DT", 5), ("VB", "NN", 50), ("DT", "IN", 500), ("NN", "JJ", 5))

# Each query: one catalog fact per row, of the current schema (partitions included: both have corpus 1's).
CATALOG = {
    "columns": "SELECT c.relname, c.relkind, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
    "a.attnotnull, a.attidentity, pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum) "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') "
    "AND a.attnum > 0 AND NOT a.attisdropped",
    "relations": "SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class'), pg_get_expr(c.relpartbound, c.oid), "
    "pg_get_partkeydef(c.oid) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
    "AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = current_schema()::regnamespace",
    "indexes": "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "views": "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c "
    "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('v', 'm')",
    "functions": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), obj_description(p.oid, 'pg_proc') "
    "FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace",
    "settings": "SELECT unnest(setconfig) FROM pg_db_role_setting "
    "WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())",
    "revision": "SELECT version_num FROM alembic_version",
}


def _write_at_0001(conn) -> None:
    """The data, in SQL that matches 0001's schema (no later column is named)."""
    run = conn.exec_driver_sql
    run("INSERT INTO suite (name, source, tokenizer, spec) VALUES ('s', 'local', 't', '{}')")
    run(
        "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions, "
        f"frequency_source, options) VALUES ('c', 't', 'h', 10, 'x', 1, {len(POSITIONS)}, 'self', '{{}}')"
    )
    for token in range(10):
        run(f"INSERT INTO vocab_token VALUES (1, {token}, ' w{token}', {token + 1}, {-2.3 - token / 10})")
    for i, (pos_t, pos_prev, frequency) in enumerate(POSITIONS):
        run(
            "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, pos_prev, "
            f"begin_of_word, end_of_word, frequency) VALUES (1, 0, {i}, {i}, {i + 1}, '{pos_t}', '{pos_prev}', "
            f"true, {i % 2 == 0}, {frequency})"
        )
    for rank, size in enumerate(SIZES):
        run(f"INSERT INTO model (suite_id, size, size_rank) VALUES (1, '{size}', {rank})")
        for seed in SEEDS:
            run(
                f"INSERT INTO run (model_id, seed, source) SELECT model_id, {seed}, 'x' FROM model WHERE size = %s",
                (size,),
            )
    run("INSERT INTO checkpoint (run_id, step) SELECT run_id, step FROM run, unnest(%s::int[]) AS step", (list(STEPS),))
    run(
        "INSERT INTO checkpoint_token SELECT c.checkpoint_id, p.position_id, 2 + c.step / 1000.0 + p.idx / 7.0, "
        "1 + p.idx / 3.0, 0.5 + c.step / 500.0, 1.5 - c.step / 2000.0 + r.seed / 10.0 "
        "FROM checkpoint c JOIN run r USING (run_id), position p"
    )
    run(
        "INSERT INTO comparison (kind, checkpoint_a, checkpoint_b) "
        "SELECT 'seed_pair', a.checkpoint_id, b.checkpoint_id FROM checkpoint a JOIN run ra ON ra.run_id = a.run_id "
        "JOIN checkpoint b ON b.step = a.step JOIN run rb ON rb.run_id = b.run_id "
        "WHERE ra.model_id = rb.model_id AND ra.seed = 1 AND rb.seed = 2 "
        "UNION ALL SELECT 'consecutive_step', a.checkpoint_id, b.checkpoint_id FROM checkpoint a "
        "JOIN checkpoint b ON b.run_id = a.run_id AND b.step = (SELECT min(step) FROM checkpoint n "
        "WHERE n.run_id = a.run_id AND n.step > a.step) ORDER BY 1, 2, 3"
    )
    run(
        "INSERT INTO pair_token SELECT c.comparison_id, p.position_id, 0.1 + c.comparison_id / 10.0 + p.idx / 9.0, "
        "0.2 + c.comparison_id / 11.0 FROM comparison c, position p"
    )


def _copy_base_rows(source, target) -> None:
    """A's base rows into B (at head), with the corpus's partitions, then B's aggregates from head's functions."""
    with source.connect() as src, target.begin() as dst:
        for name in BASE_TABLES:
            if name == FACT_TABLES[0]:
                partitions.attach(dst, 1)  # as corpus add does, right after the corpus's positions
            rows = [dict(r._mapping) for r in src.execute(sa.text(f"SELECT * FROM {name}"))]
            assert rows, name
            dst.execute(Base.metadata.tables[name].insert(), rows)
        aggregates.rebuild(dst)


def _catalog(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {part: sorted(map(tuple, conn.exec_driver_sql(sql).all()), key=repr) for part, sql in CATALOG.items()}


def _rounded(value):
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.9g}")  # summation order may differ between the two computations
    return value


def _rows(engine, name: str) -> list[tuple]:
    """The rows of a view or table, without ``row_id`` (an aggregate row's surrogate key: insertion order)."""
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {name}"))
        keep = [i for i, column in enumerate(result.keys()) if column != "row_id"]
        rows = result.all()
    return sorted((tuple(_rounded(row[i]) for i in keep) for row in rows), key=repr)


@pytest.fixture
def migrated_from_0001(empty_db_url):
    engine = sa.create_engine(empty_db_url)
    schema.upgrade(engine, "0001")
    with engine.begin() as conn:
        _write_at_0001(conn)
    schema.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def created_at_head():
    url = databases.create_database()
    engine = sa.create_engine(url)
    schema.upgrade(engine)
    yield engine
    engine.dispose()
    databases.drop_database(url)


def test_a_warehouse_migrated_from_0001_equals_one_created_at_head(migrated_from_0001, created_at_head):
    a, b = migrated_from_0001, created_at_head
    _copy_base_rows(a, b)
    assert catalog.drift(a) == []
    assert all(check.ok for check in aggregates.check(a)), "the migrations' backfills equal a recomputation"
    have, want = _catalog(a), _catalog(b)
    for part in CATALOG:
        assert set(have[part]) ^ set(want[part]) == set(), f"catalog differs: {part}"
        assert have[part] == want[part], part
    analytics = [o.name for o in views.objects() if o.kind == "view"]
    tables = sorted(t for t in Base.metadata.tables if t not in BASE_TABLES)
    empty = []
    for name in [*analytics, *tables]:
        rows = _rows(a, name)
        assert rows == _rows(b, name), f"{name}: rows differ"
        if not rows:
            empty.append(name)
    assert len(empty) < len(analytics) // 3, f"too little data reaches the views: {empty}"

"""The fact tables partitioned by corpus (issue 10, Scale; migration 0011): the upgrade from 0010 with two corpora
keeps every view's rows and the downgrade gives them back; `corpus add` attaches a corpus's partitions while readers
stay open; `corpus remove` drops them, leaves the other corpus intact and waits for readers in short tries only;
concurrent adds get disjoint position ranges; queries bound to a corpus's positions read its partitions only; the
drift check sees partitions as part of their table and reports a missing one; an ingest into a corpus without its
partition fails naming the corpus."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from convdiv.corpus.load import remove_corpus
from convdiv.errors import ConvdivError
from convdiv.testing import databases
from convdiv.testing import ingest as S
from convdiv.testing.synthetic import build_synthetic_warehouse
from convdiv.warehouse import aggregates, catalog, partitions, schema

CONVDIV = str(Path(sys.executable).with_name("convdiv"))
ANALYSIS_VIEWS = (
    "expected_kl",
    "reference_kl",
    "conditional_kl",
    "relative_divergence",
    "ce_difference",
    "phase_boundaries",
    "position_kl",
    "token_divergence",
    "context_variance",
    "regression_cells",
    "regression_moments",
    "corpus_summary",
    "comparison_kl",
)
FACTS = {
    "checkpoint_token": "SELECT * FROM checkpoint_token ORDER BY 1, 2",
    "pair_token": "SELECT * FROM pair_token ORDER BY 1, 2",
}


def _two_corpora(engine) -> dict[str, int]:
    """Two synthetic suites, each on its own corpus (aggregates rebuilt); corpus name -> id."""
    build_synthetic_warehouse(engine, n_positions=120, steps=(0, 16, 256))
    build_synthetic_warehouse(
        engine, suite="other", corpus="other-text", n_positions=90, steps=(0, 16, 2000), rng_seed=1
    )
    with engine.connect() as conn:
        return dict(conn.exec_driver_sql("SELECT name, corpus_id FROM corpus").fetchall())


def _rows(conn, query: str) -> tuple[list[tuple], list[str]]:
    result = conn.execute(sa.text(query))
    rows = [tuple(r) for r in result]
    return sorted(
        rows, key=lambda r: tuple((v is None, str(v) if not isinstance(v, float) else f"{v:.6e}") for v in r)
    ), list(result.keys())


def _everything(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        out = {view: _rows(conn, f"SELECT * FROM {view}") for view in ANALYSIS_VIEWS}
        out.update({table: _rows(conn, query) for table, query in FACTS.items()})
    return out


# Columns a later migration added to a view (a warehouse at 0010 has the view without them): compared on the rest.
ADDED_AFTER_0010 = {"corpus_summary": {"tagset"}}  # migration 0021


def _common(rows: list[tuple], cols: list[str], keep: list[str]) -> list[tuple]:
    at = [cols.index(c) for c in keep]
    return [tuple(r[i] for i in at) for r in rows]


def _assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name in want:
        (rows_a, cols_a), (rows_b, cols_b) = got[name], want[name]
        if cols_a != cols_b:  # only the columns a later migration added may differ
            assert set(cols_a) ^ set(cols_b) == ADDED_AFTER_0010.get(name), (name, cols_a, cols_b)
            keep = [c for c in cols_a if c in cols_b]
            rows_a, rows_b, cols_a, cols_b = _common(rows_a, cols_a, keep), _common(rows_b, cols_b, keep), keep, keep
        assert cols_a == cols_b and len(rows_a) == len(rows_b), name
        assert rows_a, f"{name} is empty: the comparison would prove nothing"
        for a, b in zip(rows_a, rows_b):
            for x, y in zip(a, b):
                if isinstance(x, float) and isinstance(y, float):
                    assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(x) and math.isnan(y)), (
                        name,
                        a,
                        b,
                    )
                else:
                    assert x == y, (name, a, b)


def _layout(engine) -> dict[str, object]:
    """Each fact table's relkind and its partitions with their bounds."""
    with engine.connect() as conn:
        kinds = dict(
            conn.exec_driver_sql(
                "SELECT relname::text, relkind::text FROM pg_class WHERE relname IN ('checkpoint_token', 'pair_token') "
                "AND relnamespace = current_schema()::regnamespace"
            ).fetchall()
        )
        bounds = dict(
            conn.exec_driver_sql(
                "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent IN ('checkpoint_token'::regclass, "
                "'pair_token'::regclass)"
            ).fetchall()
        )
    return {"kinds": kinds, "partitions": bounds}


def _range(engine, corpus_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        lo, hi = conn.exec_driver_sql(
            "SELECT min(position_id), max(position_id) + 1 FROM position WHERE corpus_id = %s", (corpus_id,)
        ).one()
    return lo, hi


def _expected_partitions(engine, corpora: dict[str, int]) -> dict[str, str]:
    out = {}
    for corpus_id in corpora.values():
        lo, hi = _range(engine, corpus_id)
        for table in ("checkpoint_token", "pair_token"):
            out[f"{table}_c{corpus_id}"] = f"FOR VALUES FROM ({lo}) TO ({hi})"
    return out


def _check_cli(db_url: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([CONVDIV, "db", "check"], env=env, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------------------------------ migration 0011


def test_upgrade_from_0010_with_two_corpora_keeps_every_row_and_downgrade_gives_them_back(engine, db_url):
    corpora = _two_corpora(engine)
    with databases.login_role(db_url, "cdv_reader") as reader:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'GRANT SELECT ON checkpoint_token, pair_token TO "{reader}"')
        at_head = _everything(engine)
        expected = _expected_partitions(engine, corpora)
        assert _layout(engine) == {"kinds": {"checkpoint_token": "p", "pair_token": "p"}, "partitions": expected}

        schema.downgrade(engine, "0010")  # plain tables with the same rows, as 0010 had them
        assert _layout(engine) == {"kinds": {"checkpoint_token": "r", "pair_token": "r"}, "partitions": {}}
        at_0010 = _everything(engine)
        _assert_same(at_0010, at_head)

        schema.upgrade(engine)  # 0010 -> 0011 with data: one partition per corpus, rows moved
        assert _layout(engine) == {"kinds": {"checkpoint_token": "p", "pair_token": "p"}, "partitions": expected}
        _assert_same(_everything(engine), at_0010)
        assert catalog.drift(engine) == []
        assert all(c.ok for c in aggregates.check(engine))
        with engine.connect() as conn:
            for table in ("checkpoint_token", "pair_token"):  # privileges, keys and comments came along
                assert conn.exec_driver_sql("SELECT has_table_privilege(%s, %s, 'SELECT')", (reader, table)).scalar()
                assert (
                    conn.exec_driver_sql("SELECT obj_description(%s::regclass, 'pg_class')", (table,))
                    .scalar()
                    .endswith(f"({table}_c<corpus_id>).")
                )
            pks = dict(
                conn.exec_driver_sql(
                    "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'p' "
                    "AND conrelid::regclass::text ~ '^(checkpoint|pair)_token'"
                ).fetchall()
            )
            assert pks == {t: f"pk_{t}" for t in ["checkpoint_token", "pair_token", *expected]}
            uncommented = (
                conn.exec_driver_sql(
                    "SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                    "WHERE c.relname = ANY(%s) AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL",
                    (list(expected),),
                )
                .scalars()
                .all()
            )
            assert uncommented == []


def test_upgrade_refuses_corpora_whose_positions_interleave(empty_db_url):
    engine = sa.create_engine(empty_db_url)
    try:
        schema.upgrade(engine, "0010")
        with engine.begin() as conn:  # two corpora added concurrently by an older convdiv: ids alternate
            for name in ("first", "second"):
                conn.exec_driver_sql(
                    "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, "
                    "n_positions, frequency_source, options) VALUES (%s, 't', 'x', 10, %s, 1, 3, 'self', '{}')",
                    (name, name),
                )
            for idx in range(3):
                for corpus_id in (1, 2):
                    conn.exec_driver_sql(
                        "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, "
                        "begin_of_word, end_of_word, frequency) VALUES (%s, 0, %s, 1, 2, true, true, 1)",
                        (corpus_id, idx),
                    )
        with pytest.raises(ConvdivError, match="'first' .*and 'second' .* interleave") as info:
            schema.upgrade(engine)
        assert "\n" not in str(info.value) and "nothing was changed" in str(info.value)
        assert schema.current_revision(engine) == "0010"
        assert _layout(engine) == {"kinds": {"checkpoint_token": "r", "pair_token": "r"}, "partitions": {}}
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------------ corpus add


def test_corpus_add_attaches_partitions_while_readers_stay_open(engine, db_url, suite_root, monkeypatch):
    monkeypatch.setenv("CONVDIV_LOCK_TIMEOUT", "5")
    first = S.add_tiny_corpus(engine, suite_root)
    info = S.conninfo(db_url)
    with psycopg.connect(info) as analyst:  # reads the facts and leaves its transaction open
        analyst.execute("SELECT count(*) FROM token_records").fetchone()
        analyst.execute("SELECT * FROM expected_kl").fetchall()
        t0 = time.monotonic()
        second = S.add_tiny_corpus(engine, suite_root, name="second", documents=S.corpus_documents(2, chars=120))
        assert time.monotonic() - t0 < 5  # never waited for the reader's lock (it would have failed after 5 s)
        assert analyst.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        analyst.execute("SELECT count(*) FROM token_records").fetchone()  # and it still reads
    corpora = {S.CORPUS: first, "second": second}
    assert _layout(engine)["partitions"] == _expected_partitions(engine, corpora)
    assert catalog.drift(engine) == []
    with engine.connect() as conn:
        comment = conn.exec_driver_sql(
            "SELECT obj_description(%s::regclass, 'pg_class')", (f"checkpoint_token_c{second}",)
        ).scalar()
    assert f"corpus {second}" in comment

    # Inside an uncommitted add (partitions attached, lock held): a fresh reader and a writer of the facts go on.
    with psycopg.connect(info) as writer:
        corpus = writer.execute(
            "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, "
            "n_positions, frequency_source, options) VALUES ('third', 't', 'x', 10, 'z', 1, 3, 'self', '{}') "
            "RETURNING corpus_id"
        ).fetchone()[0]
        partitions.lock_position_ids(writer)
        writer.execute(
            "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, "
            "begin_of_word, end_of_word, frequency) SELECT %s, 0, i, 1, 2, true, true, 1 "
            "FROM generate_series(0, 2) i",
            (corpus,),
        )
        partitions.attach(writer, corpus)
        with psycopg.connect(info, autocommit=True) as fresh:
            fresh.execute("SET lock_timeout = '50ms'")  # waiting on any lock at all fails the statement
            fresh.execute("SELECT count(*) FROM token_records").fetchone()
            fresh.execute("SELECT * FROM expected_kl").fetchall()
            with fresh.transaction():  # an ingest's write into the facts (rolled back)
                fresh.execute(
                    "DELETE FROM checkpoint_token WHERE position_id IN "
                    "(SELECT position_id FROM position WHERE corpus_id = %s)",
                    (first,),
                )
                raise psycopg.Rollback()
        writer.commit()
    assert catalog.drift(engine) == []


def _add_positions(info: str, name: str, n: int, barrier: threading.Barrier, lock: bool, out: dict) -> None:
    """A corpus add's position writes, slowed down: n single-row INSERTs (each takes the next id)."""
    try:
        with psycopg.connect(info) as conn:
            corpus = conn.execute(
                "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, "
                "n_positions, frequency_source, options) VALUES (%s, 't', 'x', 10, %s, 1, %s, 'self', '{}') "
                "RETURNING corpus_id",
                (name, name, n),
            ).fetchone()[0]
            barrier.wait(timeout=30)
            if lock:
                partitions.lock_position_ids(conn)
            for idx in range(n):
                conn.execute(
                    "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, "
                    "begin_of_word, end_of_word, frequency) VALUES (%s, 0, %s, 1, 2, true, true, 1)",
                    (corpus, idx),
                )
                time.sleep(0.005)
            if lock:
                partitions.attach(conn, corpus)
            out[name] = corpus
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        out[name] = exc


def _concurrently(info: str, lock: bool, names: tuple[str, str]) -> dict:
    out: dict = {}
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=_add_positions, args=(info, name, 40, barrier, lock, out)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return out


def test_concurrent_corpus_adds_get_disjoint_position_ranges(engine, db_url):
    info = S.conninfo(db_url)
    # without the lock, two adds writing at once interleave their ids (what the lock is for) ...
    control = _concurrently(info, lock=False, names=("c1", "c2"))
    ranges = [_range(engine, control[n]) for n in ("c1", "c2")]
    assert ranges[0][0] < ranges[1][1] and ranges[1][0] < ranges[0][1], ranges
    # ... with it, each corpus's ids are one range, and both get their partitions
    out = _concurrently(info, lock=True, names=("d1", "d2"))
    assert all(isinstance(v, int) for v in out.values()), out
    (lo1, hi1), (lo2, hi2) = sorted(_range(engine, out[n]) for n in ("d1", "d2"))
    assert hi1 <= lo2 and hi1 - lo1 == 40 and hi2 - lo2 == 40
    with engine.connect() as conn:
        parts = {
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT inhrelid::regclass::text FROM pg_inherits "
                "WHERE inhparent IN ('checkpoint_token'::regclass, 'pair_token'::regclass)"
            )
        }
    assert {f"{t}_c{out[n]}" for t in ("checkpoint_token", "pair_token") for n in ("d1", "d2")} == parts


# ------------------------------------------------------------------------------------------ corpus remove


def test_corpus_remove_drops_its_partitions_and_leaves_the_other_corpus(engine, db_url, tmp_path):
    corpora = _two_corpora(engine)
    gone, kept = corpora["synthetic-text"], corpora["other-text"]

    def kept_rows():
        with engine.connect() as conn:
            out = {
                view: _rows(conn, f"SELECT * FROM {view} WHERE corpus = 'other-text'")
                for view in (
                    "expected_kl",
                    "conditional_kl",
                    "token_divergence",
                    "context_variance",
                    "regression_moments",
                    "corpus_summary",
                )
            }
            for table in FACTS:
                out[table] = _rows(
                    conn,
                    f"SELECT * FROM {table} WHERE position_id IN "
                    f"(SELECT position_id FROM position WHERE corpus_id = {kept})",
                )
        return out

    before = kept_rows()
    with engine.connect() as conn:
        facts = conn.exec_driver_sql(
            f"SELECT (SELECT count(*) FROM checkpoint_token_c{gone}) + (SELECT count(*) FROM pair_token_c{gone})"
        ).scalar()
    assert facts > 0
    assert remove_corpus(engine, "synthetic-text") == facts
    _assert_same(kept_rows(), before)
    assert _layout(engine)["partitions"] == _expected_partitions(engine, {"other-text": kept})
    with engine.connect() as conn:
        for table in ("checkpoint_stats", "comparison_stats", "agg_position_kl", "final_surprisal"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE corpus_id = %s", (gone,)).scalar() == 0
    proc = _check_cli(db_url, tmp_path)
    assert proc.returncode == 0 and "ok:" in proc.stdout, proc.stdout + proc.stderr


def test_corpus_remove_waits_for_a_reader_in_short_tries_then_names_it(engine, db_url, monkeypatch):
    corpora = _two_corpora(engine)
    info = S.conninfo(db_url)
    monkeypatch.setenv("CONVDIV_LOCK_TIMEOUT", "3")
    before = _everything(engine)
    with psycopg.connect(info) as analyst:  # read the facts, then went idle with the transaction open
        analyst.execute("SELECT count(*) FROM token_records").fetchone()
        pid = analyst.info.backend_pid
        result: dict = {}

        def remove():
            try:
                result["facts"] = remove_corpus(engine, "synthetic-text")
            except ConvdivError as exc:
                result["error"] = str(exc)

        thread = threading.Thread(target=remove)
        thread.start()
        waits = []
        with psycopg.connect(info, autocommit=True) as fresh:  # new readers of the facts, meanwhile
            while thread.is_alive():
                t0 = time.monotonic()
                fresh.execute("SELECT count(*) FROM checkpoint_token").fetchone()
                waits.append(time.monotonic() - t0)
                time.sleep(0.05)
        thread.join()
    assert "facts" not in result, "the remove must wait for the reader's lock"
    assert f"pid {pid}" in result["error"] and "CONVDIV_LOCK_TIMEOUT" in result["error"], result
    assert "nothing was changed" in result["error"] and "\n" not in result["error"]
    # a single wait behind the reader would have stalled every new reader for 3 s; tries stall them < 1 s
    assert len(waits) > 10 and max(waits) < 1.0, waits
    _assert_same(_everything(engine), before)
    assert _layout(engine)["partitions"] == _expected_partitions(engine, corpora)


def test_kill_9_of_a_corpus_remove_waiting_to_drop_changes_nothing(engine, db_url, tmp_path):
    """Killed after it deleted the corpus's rows, while it asks for the lock to drop the partitions: all or nothing."""
    corpora = _two_corpora(engine)
    info = S.conninfo(db_url)
    before = _everything(engine)
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "CONVDIV_DATA_DIR": str(tmp_path / "data"),
        "CONVDIV_LOCK_TIMEOUT": "120",
    }
    with psycopg.connect(info) as analyst:  # holds the facts, so the remove waits at its last step
        analyst.execute("SELECT count(*) FROM token_records").fetchone()
        proc = subprocess.Popen(
            [CONVDIV, "corpus", "remove", "synthetic-text"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 120
            with psycopg.connect(info, autocommit=True) as watcher:
                while not watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%%LOCK TABLE ONLY%%' AND pid <> pg_backend_pid()"
                ).fetchone():
                    assert proc.poll() is None and time.monotonic() < deadline, "the remove never asked for the lock"
                    time.sleep(0.05)
                proc.kill()
                proc.wait(timeout=30)
                while watcher.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid NOT IN "
                    "(pg_backend_pid(), %s) AND datname = current_database()",
                    (analyst.info.backend_pid,),
                ).fetchone():
                    assert time.monotonic() < deadline, "the killed remove's transaction never ended"
                    time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
    _assert_same(_everything(engine), before)
    assert _layout(engine)["partitions"] == _expected_partitions(engine, corpora)
    assert catalog.drift(engine) == []


# ------------------------------------------------------------------------------------------ pruning


def _relations(plan: dict) -> set[str]:
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _relations(child)
    return found


def _executed(plan: dict) -> set[str]:
    """Relations of the plan nodes that ran at least once (EXPLAIN ANALYZE)."""
    found = {plan["Relation Name"]} if "Relation Name" in plan and plan.get("Actual Loops", 0) > 0 else set()
    for child in plan.get("Plans", []):
        found |= _executed(child)
    return found


def test_queries_bound_to_a_corpus_read_its_partitions_only(engine):
    from convdiv.corpus.load import Q

    corpora = _two_corpora(engine)
    target, other = corpora["other-text"], corpora["synthetic-text"]
    lo, hi = _range(engine, target)
    mine = {f"checkpoint_token_c{target}", f"pair_token_c{target}"}
    theirs = {f"checkpoint_token_c{other}", f"pair_token_c{other}"}
    count_facts = Q["count_dependent_facts"]
    with engine.connect() as conn:
        # corpus remove's count: pruned when planned
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + count_facts, {"lo": lo, "hi": hi}).scalar()[0]["Plan"]
        assert _relations(plan) == mine
        # a view read bound by position range: pruned when planned
        plan = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT ce FROM token_records WHERE position_id >= %(lo)s AND position_id < %(hi)s",
            {"lo": lo, "hi": hi},
        ).scalar()[0]["Plan"]
        assert _relations(plan) & (mine | theirs) == {f"checkpoint_token_c{target}"}
        # ... and by a range known only when it runs (a subquery): the other partition is never read
        plan = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM pair_token WHERE position_id >= "
            "(SELECT min(position_id) FROM position WHERE corpus_id = %(c)s) AND position_id <= "
            "(SELECT max(position_id) FROM position WHERE corpus_id = %(c)s)",
            {"c": target},
        ).scalar()[0]["Plan"]
        assert _executed(plan) & (mine | theirs) == {f"pair_token_c{target}"}
        # the export of one (suite, corpus): its rows queries bound position_id by the corpus's range
        from convdiv.export.parquet import Q as EXPORT

        with engine.connect() as c2:
            suite = c2.exec_driver_sql("SELECT suite_id FROM suite WHERE name = 'other'").scalar()
        for table in ("checkpoint_token", "pair_token"):
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + EXPORT[f"rows/{table}"], {"suite_id": suite, "corpus_id": target}
            ).scalar()[0]["Plan"]
            assert _executed(plan) & (mine | theirs) == {f"{table}_c{target}"}, table
        # without a bound on position_id both partitions are read (the control: the checks above can fail)
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) SELECT count(*) FROM pair_token").scalar()[0]["Plan"]
        assert _relations(plan) == {f"pair_token_c{target}", f"pair_token_c{other}"}


# ------------------------------------------------------------------------------------------ drift and ingest


def test_drift_check_sees_partitions_as_their_table_and_reports_a_missing_one(engine, db_url, tmp_path):
    corpora = _two_corpora(engine)
    assert catalog.drift(engine) == []
    gone = corpora["other-text"]
    with engine.begin() as conn:  # a partition dropped by hand, and a stray one attached by hand
        conn.exec_driver_sql(f"DROP TABLE pair_token_c{gone}")
        conn.exec_driver_sql("CREATE TABLE pair_token_x (LIKE pair_token)")
        conn.exec_driver_sql(
            "ALTER TABLE pair_token ATTACH PARTITION pair_token_x FOR VALUES FROM (1000000) TO (1000010)"
        )
    problems = catalog.drift(engine)
    assert len(problems) == 2, problems
    assert any(
        p.startswith(f"partition missing: pair_token_c{gone} of pair_token for corpus 'other-text'") for p in problems
    ), problems
    assert any(p.startswith("unexpected partition: pair_token_x") for p in problems), problems
    proc = _check_cli(db_url, tmp_path)
    assert proc.returncode == 1 and f"pair_token_c{gone}" in proc.stdout and "Traceback" not in proc.stderr


def test_drift_check_reports_a_fact_table_that_is_not_partitioned(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE pt_plain (LIKE pair_token INCLUDING ALL)")
        conn.exec_driver_sql("DROP TABLE pair_token CASCADE")  # and the views reading it
        conn.exec_driver_sql("ALTER TABLE pt_plain RENAME TO pair_token")
    problems = catalog.drift(engine)
    assert (
        "table partitioning differs: pair_token is not partitioned, expected PARTITION BY RANGE (position_id)"
        in problems
    ), problems


def test_ingest_into_a_corpus_without_its_partition_fails_naming_the_corpus(engine, db_url, suite_root, tmp_path):
    corpus = S.add_tiny_corpus(engine, suite_root)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE checkpoint_token_c{corpus}")
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [CONVDIV, "ingest", str(suite_root), "--corpus", S.CORPUS, "--sizes", "xs", "--steps", "0", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and f"corpus '{S.CORPUS}' has no partition of checkpoint_token" in lines[0], proc.stderr
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == 0
    assert S.count(db_url, "SELECT count(*) FROM ingest_unit WHERE status = 'done'") == 0


def test_stale_statistics_of_a_partitioned_fact_table_are_refreshed(db_url):
    """Autovacuum analyses partitions, never their parent: the publish's stale-statistics check covers both."""
    from convdiv.warehouse import ledger

    info = S.conninfo(db_url)
    with psycopg.connect(info) as conn:
        corpus = conn.execute(
            "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, "
            "n_positions, frequency_source, options) VALUES ('c', 't', 'x', 10, 'y', 1, 1000, 'self', '{}') "
            "RETURNING corpus_id"
        ).fetchone()[0]
        partitions.lock_position_ids(conn)
        conn.execute(
            "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, "
            "begin_of_word, end_of_word, frequency) SELECT %s, 0, i, 1, 2, true, true, 1 "
            "FROM generate_series(0, 999) i",
            (corpus,),
        )
        partitions.attach(conn, corpus)
        conn.commit()
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("ANALYZE")
        stale = ledger.Q["stale_statistics"]
        assert conn.execute(stale).fetchall() == []
        insert = (
            "INSERT INTO checkpoint_token SELECT k, p.position_id, 1, 1, 1, 1 FROM position p, "
            "generate_series(%s::int, %s::int) k"
        )
        conn.execute(insert, (1, 100))  # the partition grew past its statistics
        assert conn.execute(stale).fetchall() == [("checkpoint_token",)]
        ledger._refresh_stale_statistics(conn)
        assert conn.execute(stale).fetchall() == []
        conn.execute(insert, (101, 400))
        conn.execute(f"ANALYZE checkpoint_token_c{corpus}")  # what autovacuum does: the partition, not the parent
        assert conn.execute(stale).fetchall() == [("checkpoint_token",)]
        ledger._refresh_stale_statistics(conn)
        assert conn.execute(stale).fetchall() == []
        assert (
            conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'checkpoint_token'").fetchone()[0] == 400_000
        )

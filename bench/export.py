"""Parquet export speed against ``COPY ... TO`` CSV of the same rows, in the same process.

Builds a scratch warehouse of the study's shape in SQL (one suite: 2 sizes x 3 seeds x STEPS checkpoints, one
corpus of N positions; every checkpoint x position in checkpoint_token and every seed pair x position in
pair_token, random values), then, alternating and best of --repeat:

1. per fact table: convdiv's export of the table's (suite, corpus) partition to Parquet (binary COPY decoded with
   numpy, zstd) against ``COPY (the same SELECT) TO STDOUT (FORMAT csv)`` written to a file by psycopg (what
   ``psql \\copy ... TO file`` does);
2. the whole ``export_parquet`` (every table and aggregate view, one snapshot) against CSV COPY of the same rows.

Goal (issue 13): export rows/s >= 0.5x the CSV COPY's.

    .venv/bin/python -m bench.export [--positions 10000] [--steps 20] [--repeat 2] [--server URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pyarrow as pa
import sqlalchemy as sa
from psycopg import sql as pgsql

from bench.common import create_db, default_server, drop_db, urls
from convdiv.export import parquet as P
from convdiv.warehouse import aggregates, partitions, schema

SERVER = os.environ.get("CONVDIV_TEST_SERVER") or default_server()

BUILD = """
INSERT INTO suite (name, source, tokenizer, spec) VALUES ('bench', 'local', 't', '{}');
INSERT INTO model (suite_id, size, size_rank) SELECT 1, s, r FROM (VALUES ('s1', 0), ('s2', 1)) v(s, r);
INSERT INTO run (model_id, seed, source) SELECT m.model_id, seed, 'x' FROM model m, generate_series(1, 3) seed;
INSERT INTO checkpoint (run_id, step) SELECT r.run_id, step FROM run r, generate_series(0, %(steps)s - 1) step;
INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, n_positions,
                    frequency_source, options)
VALUES ('bench', 't', 'x', 50000, 'x', 1, %(positions)s, 'self', '{}');
INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, pos_prev, begin_of_word,
                      end_of_word, frequency)
SELECT 1, 0, i, (i * 7919) %% 50000, (i * 104729) %% 50000, (ARRAY['NN', 'VB', 'DT', NULL])[1 + i %% 4],
       (ARRAY['NN', 'VB', 'DT', NULL])[1 + (i + 1) %% 4], i %% 3 > 0, i %% 5 > 0, (i * 31) %% 100000
FROM generate_series(0, %(positions)s - 1) i;
"""
# then the corpus's partitions of the fact tables (partitions.attach, as corpus add makes them), then the facts
FACTS = """
INSERT INTO comparison (kind, checkpoint_a, checkpoint_b)
SELECT 'seed_pair', a.checkpoint_id, b.checkpoint_id
FROM checkpoint a JOIN run ra ON ra.run_id = a.run_id, checkpoint b JOIN run rb ON rb.run_id = b.run_id
WHERE ra.model_id = rb.model_id AND a.step = b.step AND ra.seed < rb.seed;
INSERT INTO checkpoint_token SELECT c.checkpoint_id, p.position_id, random() * 10, random() * 10, random(), random()
FROM checkpoint c, position p;
INSERT INTO pair_token SELECT k.comparison_id, p.position_id, random(), random() FROM comparison k, position p;
INSERT INTO ingest_unit (suite_id, corpus_id, unit_key, status) VALUES (1, 1, 'bench', 'done');
ANALYZE;
"""


def build(positions: int, steps: int) -> str:
    _, url = urls(SERVER, create_db(SERVER, "convdiv_bench_export"))
    try:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        schema.upgrade(engine)
        with psycopg.connect(url) as conn:
            # client-side binding: the script is several statements
            psycopg.ClientCursor(conn).execute(BUILD, {"positions": positions, "steps": steps})
            partitions.attach(conn, 1)
            conn.execute(FACTS)
        aggregates.rebuild(engine)  # the facts bypassed the ingest: compute the aggregates the views read
        engine.dispose()
    except BaseException:
        drop(url)
        raise
    return url


def drop(url: str) -> None:
    drop_db(SERVER, str(sa.engine.make_url(url).database))


def csv_copy(conn, query, params, path: Path) -> int:
    """The baseline: COPY (query) TO STDOUT (FORMAT csv) into a file; returns the rows (lines) written."""
    from psycopg import sql as pgsql

    rows = 0
    with path.open("wb") as f, conn.cursor() as cur:
        with cur.copy(pgsql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query), params) as copy:
            for chunk in copy:
                f.write(chunk)
                rows += bytes(chunk).count(b"\n")
    return rows


def dataset_queries(conn):
    """(name, kind, query, params) of every partition the export writes, for the CSV baseline."""
    out = []
    for name, kind, parts in P._plan(P._selection(conn, None, None)):
        _, query = P.partition_query(name, kind, P._columns(conn, name)[0])
        out += [(name, kind, query, params) for _, params in parts]
    return out


def best(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def whole_export(conn, url: str, queries, tmp: Path, args) -> float:
    """Every table and aggregate view: COPY TO CSV files first (the baseline), then export_parquet, alternating,
    best of --repeat; returns the ratio of their rows/s."""
    print("\nwhole export (every table and aggregate view), best of", args.repeat)
    t_csv, t_ours, total = [], [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        total = sum(csv_copy(conn, q, p, tmp / "all.csv") for _, _, q, p in queries)
        conn.rollback()
        t_csv.append(time.perf_counter() - t0)
        t, result = best(lambda: P.export_parquet(url, tmp / "whole", batch_rows=args.batch_rows), 1)
        t_ours.append(t)
        assert result.rows == total, (result.rows, total)
    tc, to = min(t_csv), min(t_ours)
    print(f"  {total:,} rows in {len(queries)} partitions")
    print(f"    COPY TO CSV files  : {tc:7.2f} s {total / tc:12,.0f} rows/s")
    print(f"    export_parquet     : {to:7.2f} s {total / to:12,.0f} rows/s")
    print(f"    ratio export/CSV rows/s: {tc / to:.2f}  (goal >= 0.5)")
    print(
        "  per dataset (last export):",
        ", ".join(f"{d.name} {d.rows:,} rows {d.seconds:.2f} s ({d.path})" for d in result.datasets if d.rows),
    )
    return tc / to


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batch-rows", type=int, default=P.DEFAULT_BATCH_ROWS)
    ap.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    out: dict = {"export_vs_csv": {}}
    print(f"building: 2 sizes x 3 seeds x {args.steps} steps, {args.positions:,} positions ...", flush=True)
    url = build(args.positions, args.steps)
    tmp = Path(tempfile.mkdtemp(prefix="convdiv-bench-export-"))
    try:
        with psycopg.connect(url) as conn:
            queries = dataset_queries(conn)
            # warm-up, untimed: the first binary-COPY export of the process costs about a second once
            # (lazy imports and first-use set-up in pyarrow and psycopg), which would swamp a small table
            columns = P._columns(conn, "checkpoint_token")[0]
            schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=False) for c in columns])
            warm = P._fixed_batches(
                conn, pgsql.SQL("SELECT * FROM checkpoint_token LIMIT 1000"), {}, columns, schema, 100
            )
            P._write_file(tmp / "warm-up.parquet", schema, warm, lambda n: None, keep_empty=True)
            conn.rollback()
            print("\nper fact table (one (suite, corpus) partition), best of", args.repeat)
            for name in P.FACT_TABLES:
                name_, kind, query, params = next(q for q in queries if q[0] == name)
                t_csv, t_ours, rows = [], [], 0
                for _ in range(args.repeat):  # alternate: a busy neighbour on shared CPUs hurts both alike
                    t, rows = best(lambda q=query, p=params, n=name: csv_copy(conn, q, p, tmp / f"{n}.csv"), 1)
                    t_csv.append(t)
                    shutil.rmtree(tmp / "parquet", ignore_errors=True)
                    t, result = best(
                        lambda n=name, k=kind, p=params: P._export_dataset(
                            conn,
                            tmp / "parquet",
                            n,
                            k,
                            [([("suite", "bench"), ("corpus", "bench")], p)],
                            args.batch_rows,
                            lambda n: None,
                        ),
                        1,
                    )
                    t_ours.append(t)
                    assert result.rows == rows, (result.rows, rows)
                    conn.rollback()
                tc, to = min(t_csv), min(t_ours)
                size_csv = (tmp / f"{name}.csv").stat().st_size
                size_pq = sum(f.stat().st_size for f in (tmp / "parquet" / name).rglob("*.parquet"))
                print(f"  {name}: {rows:,} rows")
                print(f"    COPY TO CSV file   : {tc:7.2f} s {rows / tc:12,.0f} rows/s  {size_csv / 2**20:8.1f} MiB")
                print(
                    f"    export to Parquet  : {to:7.2f} s {rows / to:12,.0f} rows/s  {size_pq / 2**20:8.1f} MiB "
                    f"(zstd, {result.path} path)"
                )
                print(f"    ratio export/CSV rows/s: {tc / to:.2f}  (goal >= 0.5)")
                out["export_vs_csv"][name] = tc / to

            out["whole_export_vs_csv"] = whole_export(conn, url, queries, tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        drop(url)
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        print(json.dumps({**out, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()

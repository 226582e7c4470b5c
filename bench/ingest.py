"""Loader throughput: rows/s of convdiv's binary COPY loader against `psql \\copy` and pandas `to_sql`.

All methods load the same checkpoint_token rows (2 int4 keys + 4 float4, with the table's primary key in place
and, since migration 0003, no foreign keys, as in production) into a scratch database on the same server, in one process:

- ``loader``: ``convdiv.warehouse.loader.copy_into`` straight into checkpoint_token;
- ``publish``: the staging part of an ingest unit (``ledger.publish_unit``'s path without its aggregates; see
  bench/scale.py for the whole unit): COPY into a temporary staging table, validate with one aggregate query,
  ``INSERT ... SELECT`` into checkpoint_token, in one transaction;
- ``psql-binary`` / ``psql-csv``: ``psql -c "\\copy checkpoint_token FROM file"`` of the same rows written to a
  binary COPY file / CSV file beforehand (file writing not timed; psql's process start is);
- ``to_sql``: ``pandas.DataFrame.to_sql(...)`` with pandas' defaults through SQLAlchemy + psycopg, on a slice of
  the rows (it is far slower), scaled as rows/s.

Goals (issue 5): loader >= 0.7x psql \\copy; loader >= 20x to_sql.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from convdiv.warehouse import loader, partitions, schema  # noqa: E402
from convdiv.warehouse.ledger import CHECKPOINT_TOKEN_TYPES, q  # noqa: E402

COLUMNS = ("checkpoint_id", "position_id", "ce", "entropy", "kl_uniform", "kl_unigram")


def scratch_database(server: str) -> tuple[str, str]:
    name = f"convdiv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(server).set(database=name)
    return name, url.render_as_string(hide_password=False)


def setup(conninfo: str, n_checkpoints: int, n_positions: int) -> dict[str, np.ndarray]:
    """Dimensions the facts point at, and the fact rows to load."""
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO suite (name, source, tokenizer, spec) VALUES ('bench', 'local', 't', '{}')")
        cur.execute("INSERT INTO model (suite_id, size) SELECT suite_id, 'm' FROM suite")
        cur.execute("INSERT INTO run (model_id, seed, source) SELECT model_id, 1, 'r' FROM model")
        cur.execute(
            "INSERT INTO checkpoint (run_id, step) SELECT run_id, s FROM run, generate_series(1, %s) s",
            (n_checkpoints,),
        )
        cur.execute(
            "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents,"
            " n_positions, frequency_source, options) VALUES ('c', 't', 'x', 1, 'x', 1, %s, 'self', '{}')",
            (n_positions,),
        )
        cur.execute(
            "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id,"
            " begin_of_word, end_of_word, frequency)"
            " SELECT corpus_id, 0, i, 0, 0, true, true, 1 FROM corpus, generate_series(0, %s - 1) i",
            (n_positions,),
        )
        partitions.attach(conn, cur.execute("SELECT corpus_id FROM corpus").fetchone()[0])
        ckpt = np.array([r[0] for r in cur.execute("SELECT checkpoint_id FROM checkpoint ORDER BY 1")], np.int32)
        pos = np.array([r[0] for r in cur.execute("SELECT position_id FROM position ORDER BY 1")], np.int32)
    rng = np.random.default_rng(0)
    n = len(ckpt) * len(pos)
    rows = {"checkpoint_id": np.repeat(ckpt, len(pos)), "position_id": np.tile(pos, len(ckpt))}
    for c in COLUMNS[2:]:
        rows[c] = rng.gamma(1.0, 1.0, n).astype(np.float32)
    return rows


def truncate(conninfo: str) -> None:
    with psycopg.connect(conninfo) as conn:
        conn.execute("TRUNCATE checkpoint_token, bench_no_fk")
        conn.execute("CHECKPOINT")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_loader(conninfo, rows, table):
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        loader.copy_into(cur, table, rows, CHECKPOINT_TOKEN_TYPES)


def run_publish(conninfo, rows, table):
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE stage_checkpoint_token (LIKE checkpoint_token) ON COMMIT DROP")
        cur.execute("CREATE TEMP TABLE stage_pair_token (LIKE pair_token) ON COMMIT DROP")
        loader.copy_into(cur, "stage_checkpoint_token", rows, CHECKPOINT_TOKEN_TYPES)
        cur.execute(q("validate_stage")).fetchone()
        cur.execute(q("publish_checkpoint_rows").replace("INSERT INTO checkpoint_token", f"INSERT INTO {table}"))


def run_psql(url: str, path: Path, fmt: str, table: str):
    parsed = sa.engine.make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    argv = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        parsed.database,
        "-U",
        parsed.username or "postgres",
        "-h",
        parsed.host or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-c",
        f"\\copy {table} ({', '.join(COLUMNS)}) FROM '{path}' WITH (FORMAT {fmt})",
    ]
    subprocess.run(argv, env=env, check=True)


def run_to_sql(url: str, rows, n: int, table: str):
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    frame = pd.DataFrame({k: v[:n] for k, v in rows.items()})
    # pandas' defaults (executemany of one INSERT): 5x faster here than method="multi", chunksize=5000, which an
    # earlier version of this bench used; the honest baseline is the one a user gets by default
    frame.to_sql(table, engine, if_exists="append", index=False)
    engine.dispose()


def report(table, n, seconds, to_sql_rate, args) -> None:
    rate = {k: n / s for k, s in seconds.items()}
    rate["to_sql"] = to_sql_rate
    what = "primary key, no foreign keys (migration 0003)" if table == "checkpoint_token" else "primary key only"
    print(f"\n{table} ({what}): {n:,} rows (to_sql: {args.to_sql_rows:,}); best of {args.repeat}")
    for label, r in rate.items():
        print(f"  {label:12s} {r:12,.0f} rows/s")
    print(f"  loader / psql-binary  = {rate['loader'] / rate['psql-binary']:.2f}x  (goal >= 0.7)")
    print(f"  loader / psql-csv     = {rate['loader'] / rate['psql-csv']:.2f}x")
    print(f"  publish / psql-binary = {rate['publish'] / rate['psql-binary']:.2f}x  (the full unit path)")
    print(f"  loader / to_sql       = {rate['loader'] / rate['to_sql']:.1f}x  (goal >= 20)")
    print(f"  publish / to_sql      = {rate['publish'] / rate['to_sql']:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--to-sql-rows", type=int, default=50_000)
    parser.add_argument(
        "--server", default=os.environ.get("CONVDIV_TEST_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the fast methods")
    args = parser.parse_args()

    n_checkpoints = 10
    name, url = scratch_database(args.server)
    try:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        schema.upgrade(engine)
        engine.dispose()
        rows = setup(url, n_checkpoints, args.rows // n_checkpoints)
        with psycopg.connect(url) as conn:  # the same table without the per-row foreign-key triggers
            conn.execute("CREATE TABLE bench_no_fk (LIKE checkpoint_token INCLUDING ALL)")
        n = len(rows["checkpoint_id"])
        with tempfile.TemporaryDirectory() as tmp:
            binary = Path(tmp) / "rows.bin"
            binary.write_bytes(loader.encode_binary_copy([rows[c] for c in COLUMNS], CHECKPOINT_TOKEN_TYPES))
            csv = Path(tmp) / "rows.csv"
            pd.DataFrame(rows).to_csv(csv, index=False, header=False, float_format="%.9g")
            os.chmod(tmp, 0o755)
            for table in ("checkpoint_token", "bench_no_fk"):
                seconds = {}
                methods = {
                    "loader": lambda table=table: run_loader(url, rows, table),
                    "publish": lambda table=table: run_publish(url, rows, table),
                    "psql-binary": lambda table=table: run_psql(url, binary, "binary", table),
                    "psql-csv": lambda table=table: run_psql(url, csv, "csv", table),
                }
                for _ in range(args.repeat):
                    for label, fn in methods.items():
                        truncate(url)
                        s = timed(fn)
                        seconds[label] = min(s, seconds.get(label, float("inf")))
                truncate(url)
                to_sql_s = timed(lambda table=table: run_to_sql(url, rows, args.to_sql_rows, table))
                report(table, n, seconds, args.to_sql_rows / to_sql_s, args)
    finally:
        with psycopg.connect(args.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

"""Loader throughput: rows/s of convdiv's binary COPY loader and of the ingest's publish against `psql \\copy`.

All methods load the same checkpoint_token rows (2 int4 keys + 4 float4, with the table's primary key in place
and, since migration 0003, no foreign keys, as in production) into a scratch database on the same server, in one
process, in interleaved rounds (best round of each kept), the table emptied before each:

- ``psql-binary`` (the baseline, printed first) / ``psql-csv``: ``psql -c "\\copy checkpoint_token FROM file"`` of
  the same rows written to a binary COPY file / CSV file beforehand (file writing not timed; psql's process start
  is);
- ``loader``: ``convdiv.warehouse.loader.copy_into`` straight into checkpoint_token;
- ``unit facts``: the facts part of an ingest unit's publish, nothing else (``convdiv.warehouse.unit_facts.write``
  in one transaction: the rows' checks, the delete of what the unit owned, the COPY; no aggregates, no ledger);
- ``full unit``: the whole publish of one ingest unit owning these rows' checkpoints (``ledger.publish_unit``:
  statistics refresh, the facts part, ``maintain_aggregates`` for the unit's checkpoints (checkpoint_stats,
  final_surprisal, agg_token_ce; these rows have no pair rows, so no pair aggregates), the ledger row, COMMIT);
  bench/scale.py times a paper-shaped unit with its pair rows on a paper-scale warehouse;
- ``to_sql``: ``pandas.DataFrame.to_sql(...)`` with pandas' defaults through SQLAlchemy + psycopg, on a slice of
  the rows (it is far slower), scaled as rows/s.

Goals (issue 5): loader >= 0.7x psql \\copy; loader >= 20x to_sql. ``--json``: the ratios (keys
``loader_vs_psql``, ``unit_facts_vs_psql``, ``full_unit_vs_psql``, ``loader_vs_to_sql``), rates and the load.

    .venv/bin/python -m bench.ingest [--rows 1000000] [--json] [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

from bench.common import create_db, default_server, drop_db, urls
from convdiv.warehouse import ledger, loader, partitions, schema, unit_facts
from convdiv.warehouse.ledger import CHECKPOINT_TOKEN_TYPES

COLUMNS = ("checkpoint_id", "position_id", "ce", "entropy", "kl_uniform", "kl_unigram")


def scratch_database(server: str) -> tuple[str, str]:
    name = create_db(server, "convdiv_bench")
    return name, urls(server, name)[1]


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
        conn.execute("TRUNCATE checkpoint_token")
        conn.execute("CHECKPOINT")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_loader(conninfo, rows):
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        loader.copy_into(cur, "checkpoint_token", rows, CHECKPOINT_TOKEN_TYPES)


def owned(conninfo: str) -> dict:
    with psycopg.connect(conninfo) as conn:
        ckpt = [r[0] for r in conn.execute("SELECT checkpoint_id FROM checkpoint ORDER BY 1")]
        corpus = conn.execute("SELECT corpus_id FROM corpus").fetchone()[0]
    return {"checkpoint_ids": ckpt, "corpus_id": corpus, "kinds": []}


NO_PAIRS = {"comparison_id": np.zeros(0, np.int32), "position_id": np.zeros(0, np.int32)} | {
    c: np.zeros(0, np.float32) for c in ("kl_ab", "kl_ba")
}


def run_unit_facts(conninfo, rows, own):
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        n = len(rows["checkpoint_id"])
        unit_facts.write(cur, "bench", own["corpus_id"], own, rows, NO_PAIRS, (n, 0), True)


def unit_rows(conninfo: str, rows, own) -> ledger.UnitRows:
    with psycopg.connect(conninfo) as conn:
        suite = conn.execute("SELECT suite_id FROM suite").fetchone()[0]
        unit = ledger.ensure_units(conn, suite, own["corpus_id"], ["bench"])["bench"]
        conn.commit()
    n = len(rows["checkpoint_id"])
    return ledger.UnitRows(
        unit_id=unit,
        unit_key="bench",
        corpus_id=own["corpus_id"],
        config_hash="h",
        owned_checkpoint_ids=own["checkpoint_ids"],
        owned_kinds=[],
        checkpoint_token=rows,
        pair_token=NO_PAIRS,
        expected_checkpoint_rows=n,
        expected_pair_rows=0,
    )


def run_full_unit(conninfo, unit: ledger.UnitRows, run_id: int):
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE ingest_unit SET status = 'pending' WHERE unit_id = %s", (unit.unit_id,))
    claim = ledger.claim(conninfo, [ledger.Candidate(unit.unit_id, "h", "g")], run_id)
    assert claim is not None
    try:
        ledger.publish_unit(claim, unit, ledger.Provenance("bench", "cpu", "float32", 0), 0.0)
    finally:
        claim.release()


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


def report(n, seconds, to_sql_rate, args) -> dict:
    rate = {k: n / s for k, s in seconds.items()}
    rate["to_sql"] = to_sql_rate
    base = rate["psql-binary"]
    print(
        f"\ncheckpoint_token (primary key, no foreign keys): {n:,} rows (to_sql: {args.to_sql_rows:,}); best of {args.repeat}"
    )
    print(f"  baseline: psql-binary  {base:12,.0f} rows/s  (psql \\copy of a binary COPY file, process start included)")
    labels = {
        "psql-csv": "psql \\copy of a CSV file",
        "loader": "convdiv's COPY loader alone",
        "unit facts": "a unit's facts part: checks, delete, COPY; no aggregates, no ledger",
        "full unit": "a whole unit: publish_unit with its aggregates, ledger row and COMMIT",
        "to_sql": "pandas to_sql, its defaults",
    }
    for label, what in labels.items():
        print(f"  {label:<12} {rate[label]:12,.0f} rows/s  = {rate[label] / base:5.2f}x psql-binary  ({what})")
    print(
        f"  loader / psql-binary = {rate['loader'] / base:.2f}x (goal >= 0.7); loader / to_sql = "
        f"{rate['loader'] / rate['to_sql']:.1f}x (goal >= 20)"
    )
    return {
        "loader_vs_psql": rate["loader"] / base,
        "unit_facts_vs_psql": rate["unit facts"] / base,
        "full_unit_vs_psql": rate["full unit"] / base,
        "loader_vs_to_sql": rate["loader"] / rate["to_sql"],
        "rows_per_s": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--to-sql-rows", type=int, default=50_000)
    parser.add_argument("--server", default=default_server("CONVDIV_TEST_SERVER"))
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds (best kept) of the fast methods")
    parser.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")

    n_checkpoints = 10
    name, url = scratch_database(args.server)
    try:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        schema.upgrade(engine)
        engine.dispose()
        rows = setup(url, n_checkpoints, args.rows // n_checkpoints)
        own = owned(url)
        unit = unit_rows(url, rows, own)
        run_id = ledger.start_run(url, {"bench": "ingest"}, "bench")
        n = len(rows["checkpoint_id"])
        with tempfile.TemporaryDirectory() as tmp:
            binary = Path(tmp) / "rows.bin"
            binary.write_bytes(loader.encode_binary_copy([rows[c] for c in COLUMNS], CHECKPOINT_TOKEN_TYPES))
            csv = Path(tmp) / "rows.csv"
            pd.DataFrame(rows).to_csv(csv, index=False, header=False, float_format="%.9g")
            os.chmod(tmp, 0o755)
            seconds: dict[str, float] = {}
            methods = {
                "psql-binary": lambda: run_psql(url, binary, "binary", "checkpoint_token"),
                "psql-csv": lambda: run_psql(url, csv, "csv", "checkpoint_token"),
                "loader": lambda: run_loader(url, rows),
                "unit facts": lambda: run_unit_facts(url, rows, own),
                "full unit": lambda: run_full_unit(url, unit, run_id),
            }
            for _ in range(args.repeat):
                for label, fn in methods.items():
                    truncate(url)
                    s = timed(fn)
                    seconds[label] = min(s, seconds.get(label, float("inf")))
            truncate(url)
            to_sql_s = timed(lambda: run_to_sql(url, rows, args.to_sql_rows, "checkpoint_token"))
            out = report(n, seconds, args.to_sql_rows / to_sql_s, args)
        ledger.finish_run(url, run_id, "done")
    finally:
        drop_db(args.server, name)
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        print(json.dumps({**out, "rows": n, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()

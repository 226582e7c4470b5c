"""`convdiv export DIR`: Parquet files of a small real warehouse, read back with DuckDB: every dataset's row count
and a per-column checksum equal the warehouse's, views come back whole (hive partitions restore suite/corpus),
batches make several row groups, a re-export replaces what it writes, and user mistakes are one-line errors."""

from __future__ import annotations

import json
import math

import duckdb
import psycopg
import pyarrow.parquet as pq
import pytest

from convdiv.export.parquet import CORPUS_TABLES, DIMENSIONS, FACT_TABLES, VIEWS
from convdiv.testing import ingest as S
from convdiv.testing.cli import run_cli

pytestmark = pytest.mark.slow
BATCH_ROWS = 700  # small batches: the fact tables (thousands of rows) span several row groups


@pytest.fixture(scope="module")
def exported(small_warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "parquet"
    proc = run_cli(["export", str(out), "--batch-rows", str(BATCH_ROWS), "--json"], small_warehouse[0])
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def _pg(url: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


def _column_types(conn, name: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
        (name,),
    ).fetchall()
    return dict(rows)


def _checksum_sql(columns: dict[str, str], source: str) -> str:
    """One row: count(*), then per column a sum that changes when any value changes (same SQL for both engines)."""
    parts = ["count(*)"]
    for name, pg_type in columns.items():
        col = f'"{name}"'
        if pg_type in ("smallint", "integer", "bigint"):
            parts.append(f"sum({col})")
        elif pg_type in ("real", "double precision", "numeric"):
            parts.append(f"sum(CAST({col} AS DOUBLE PRECISION))")
        elif pg_type == "boolean":
            parts.append(f"sum(CASE WHEN {col} THEN 1 ELSE 0 END)")
        elif pg_type == "text":
            parts.append(f"sum(length({col}))")
        parts.append(f"count({col})")
    return f"SELECT {', '.join(parts)} FROM {source}"


def _close(a, b) -> bool:
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-9))
        for x, y in zip(a, b)
    )


def test_every_dataset_round_trips_through_duckdb(small_warehouse, exported):
    out, manifest = exported
    datasets = manifest["datasets"]
    assert set(datasets) == {*DIMENSIONS, *CORPUS_TABLES, *FACT_TABLES, *VIEWS}
    # all three readers are exercised: binary COPY (facts), CSV COPY (text and NULLs), cursor (JSON, arrays)
    assert {
        n: datasets[n]["read_by"] for n in ("checkpoint_token", "position", "vocab_token", "suite", "phase_boundaries")
    } == {
        "checkpoint_token": "fixed",
        "position": "csv",
        "vocab_token": "csv",
        "suite": "cursor",
        "phase_boundaries": "cursor",
    }
    with _pg(small_warehouse[0]) as conn:
        for name, info in datasets.items():
            types = _column_types(conn, name)
            if info["kind"] == "view":
                types = {c: t for c, t in types.items() if c not in ("suite", "corpus")}
            assert info["columns"] == list(types), name
            warehouse = conn.execute(_checksum_sql(types, name)).fetchone()
            assert warehouse[0] > 0, f"{name}: nothing to compare in the test warehouse"
            glob = f"'{out}/{name}/**/*.parquet'" if info["partitioning"] else f"'{out}/{name}/part-0.parquet'"
            files = duckdb.sql(_checksum_sql(types, f"read_parquet({glob})")).fetchall()[0]
            assert files[0] == info["rows"] == warehouse[0], name
            assert _close(files, warehouse), (name, files, warehouse)


def test_facts_are_partitioned_and_batched(small_warehouse, exported):
    out, manifest = exported
    suite, corpus = small_warehouse[1].name, S.CORPUS
    info = manifest["datasets"]["checkpoint_token"]
    assert info["partitioning"] == ["suite", "corpus"]
    assert info["files"] == [f"checkpoint_token/suite={suite}/corpus={corpus}/part-0.parquet"]
    meta = pq.ParquetFile(out / info["files"][0]).metadata
    assert meta.num_row_groups == math.ceil(info["rows"] / BATCH_ROWS) > 1
    assert meta.row_group(0).column(2).compression == "ZSTD"
    # hive partitioning gives the suite and corpus back as columns
    got = duckdb.sql(f"SELECT DISTINCT suite, corpus FROM '{out}/checkpoint_token/**/*.parquet'").fetchall()
    assert got == [(suite, corpus)]


def test_a_view_comes_back_whole(small_warehouse, exported):
    out, _ = exported
    with _pg(small_warehouse[0]) as conn:
        cur = conn.execute("SELECT * FROM expected_kl ORDER BY kind, size_rank, step")
        names = [d.name for d in cur.description]
        warehouse = cur.fetchall()
    files = duckdb.sql(
        f"SELECT {', '.join(names)} FROM '{out}/expected_kl/**/*.parquet' ORDER BY kind, size_rank, step"
    ).fetchall()
    assert len(files) == len(warehouse) > 0
    for a, b in zip(files, warehouse):
        assert all(x == y or (isinstance(y, float) and math.isclose(x, y, rel_tol=1e-12)) for x, y in zip(a, b)), (a, b)


def test_reexport_of_one_suite_replaces_the_datasets(small_warehouse, exported, tmp_path):
    out = tmp_path / "again"
    first = run_cli(["export", str(out), "--batch-rows", "100000"], small_warehouse[0])
    assert first.returncode == 0, first.stderr
    assert "rows in" in first.stdout.splitlines()[-1]
    stale = out / "checkpoint_token" / "suite=gone" / "corpus=x"
    stale.mkdir(parents=True)
    (stale / "part-0.parquet").write_bytes(b"not parquet")
    again = run_cli(["export", str(out), "--suite", small_warehouse[1].name, "--corpus", S.CORPUS], small_warehouse[0])
    assert again.returncode == 0, again.stderr
    assert not stale.exists()
    n = duckdb.sql(f"SELECT count(*) FROM '{out}/checkpoint_token/**/*.parquet'").fetchall()[0][0]
    assert n == exported[1]["datasets"]["checkpoint_token"]["rows"]
    assert not [p for p in out.iterdir() if p.name.startswith(".export")]


def test_export_mistakes_are_one_line_errors(small_warehouse, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    proc = run_cli(["export", str(foreign)], small_warehouse[0])
    assert proc.returncode == 1 and "is not empty and holds no convdiv export" in proc.stderr
    assert "Traceback" not in proc.stderr and (foreign / "notes.txt").read_text() == "mine"
    proc = run_cli(["export", str(tmp_path / "new"), "--suite", "nope"], small_warehouse[0])
    assert proc.returncode == 1 and "no suite named 'nope'" in proc.stderr and "Traceback" not in proc.stderr

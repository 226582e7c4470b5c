"""The binary COPY loader against a real PostgreSQL: round trips, special floats, and refusal of bad input."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from convdiv.warehouse import loader


def _conninfo(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def test_encode_matches_postgres_text_values(db_url):
    """What PostgreSQL reads from our stream equals the numpy values, including extremes of every type."""
    rng = np.random.default_rng(0)
    n = 1000
    cols = {
        "a": rng.integers(-(2**31), 2**31 - 1, n, dtype=np.int64).astype(np.int32),
        "b": rng.integers(-(2**15), 2**15 - 1, n).astype(np.int16),
        "c": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
        "d": rng.standard_normal(n).astype(np.float32) * 1e-7,
        "e": rng.standard_normal(n) * 1e300,
        "f": rng.integers(0, 2, n).astype(bool),
    }
    cols["d"][:3] = [np.nan, np.inf, -np.inf]
    types = ["int4", "int2", "int8", "float4", "float8", "bool"]
    with psycopg.connect(_conninfo(db_url)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (a int4, b int2, c int8, d float4, e float8, f bool)")
        assert loader.copy_into(cur, "t", cols, types) == n
        cur.execute("SELECT a, b, c, d, e, f FROM t")
        got = cur.fetchall()
        assert len(got) == n
        for i in (0, 1, 2, 3, 500, n - 1):
            row = got[i]
            assert row[0] == cols["a"][i] and row[1] == cols["b"][i] and row[2] == cols["c"][i]
            assert row[4] == cols["e"][i] and row[5] == cols["f"][i]
            if np.isnan(cols["d"][i]):
                assert np.isnan(row[3])
            else:
                assert np.float32(row[3]) == cols["d"][i]
        back = loader.copy_out(cur, "SELECT a, b, c, d, e, f FROM t", types)
    for got_col, name in zip(back, cols):
        np.testing.assert_array_equal(got_col, cols[name])
        assert got_col.dtype.isnative


def test_empty_and_mismatched_input(db_url):
    with psycopg.connect(_conninfo(db_url)) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (a int4, d float4)")
        assert (
            loader.copy_into(cur, "t", {"a": np.zeros(0, np.int32), "d": np.zeros(0, np.float32)}, ["int4", "float4"])
            == 0
        )
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone()[0] == 0
        back = loader.copy_out(cur, "SELECT a, d FROM t", ["int4", "float4"])
        assert len(back[0]) == 0
    with pytest.raises(ValueError):
        loader.encode_binary_copy([np.zeros(2), np.zeros(3)], ["float8", "float8"])
    with pytest.raises(ValueError):
        loader.encode_binary_copy([np.zeros(2)], ["text"])


def test_copy_out_refuses_nulls(db_url):
    with psycopg.connect(_conninfo(db_url)) as conn, conn.cursor() as cur:
        with pytest.raises(ValueError):
            loader.copy_out(cur, "SELECT x::int4, NULL::int4 FROM generate_series(1, 3) x", ["int4", "int4"])

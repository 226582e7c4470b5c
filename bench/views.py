"""Analysis views at paper scale: query time of every report view, against the same aggregate in pandas.

Builds a synthetic warehouse of the study's shape (``convdiv.testing.paper``) in a scratch database on the given
server:
5 sizes x 20 steps x 5 seeds over 4,662 positions (x SCALE) -> 2.33M checkpoint_token rows, and the 10 seed pairs
of every (size, step) -> 4.66M pair_token rows holding both directions (x SCALE), loaded with convdiv's binary COPY
loader (synthetic values: curves with the four phases times log-normal noise; POS tags, NULL tags, Zipf
frequencies). Then it refreshes the materialised aggregates (timed: the end of every ingest pays this) and, per
report view, times ``SELECT *`` read fully into the client (best of 2), next to pandas doing the same aggregate
after reading the raw fact rows with binary COPY (read and compute timed separately). SCALE multiplies the
positions (default: 1 and 4, to show the views stay flat or linear).

Goal (issue 6): every report view < 2 s on the paper-scale warehouse.

The baseline, printed first on each row, is pandas (read + compute); the headline per row is SQL vs pandas.
``--json``: per scale, each query's seconds, rows and speedup_vs_pandas, the slowest view (slowest_view_s), the load.

    .venv/bin/python -m bench.views [--scales 1,4] [--json] [--server postgresql://postgres@127.0.0.1:5432/postgres] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

from bench.common import create_db, default_server, drop_db, time_query, urls
from convdiv.testing import paper
from convdiv.warehouse import aggregates, loader, schema

# the report's views, each read in full; plus analysts' typical filtered reads of the big plain views
QUERIES = {
    "expected_kl": "SELECT * FROM expected_kl",
    "reference_kl": "SELECT * FROM reference_kl",
    "conditional_kl": "SELECT * FROM conditional_kl",
    "relative_divergence": "SELECT * FROM relative_divergence",
    "ce_difference": "SELECT * FROM ce_difference",
    "phase_boundaries": "SELECT * FROM phase_boundaries",
    "token_divergence": "SELECT * FROM token_divergence",
    "context_variance": "SELECT * FROM context_variance",
    "regression_inputs (1 step, seed pairs)": "SELECT * FROM regression_inputs WHERE kind = 'seed_pair' AND step = 512",
    "token_records (1 checkpoint)": "SELECT * FROM token_records WHERE size = '410m' AND seed = 3 AND step = 512",
    # the report reads views only since migration 0010 (convdiv/report/sql/ is gone)
    "regression cells (report query)": "SELECT * FROM regression_cells WHERE suite = 'pythia' AND corpus = 'pile-sample' AND kind = 'seed_pair'",
    "regression_cells (1 kind)": "SELECT * FROM regression_cells WHERE kind = 'seed_pair'",
    "regression_moments (1 kind)": "SELECT * FROM regression_moments WHERE kind = 'seed_pair'",
    "pair_records (1 comparison)": "SELECT * FROM pair_records WHERE comparison_id = (SELECT min(comparison_id) FROM comparison)",
}


def build(conninfo: str, scale: int, rng: np.random.Generator) -> dict[str, float]:
    """Load dimensions and facts (the paper-scale suite ``pythia``, seed pairs only, on the realistic corpus
    ``pile-sample`` of POSITIONS x scale positions); returns seconds per phase and the rows copied."""
    timings = {}
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        corpus = dict(realistic=True, scale=scale, n_documents=10 * scale, content_sha256="y", lock=False)
        _, position_ids = paper.add_corpus(conn, "pile-sample", rng, **corpus)
        suite = paper.add_suite(cur, "pythia", consecutive=False, tokenizer="EleutherAI/pythia-160m")
        conn.commit()
        timings["dimensions"] = time.perf_counter() - t0

        # facts, as an ingest builds them: keys dropped during the bulk load and built after (design: "indexes
        # built after bulk loads"), one COPY per (size, step) group
        t0 = time.perf_counter()
        # (a bulk load checks foreign keys row by row; re-adding them validates each in one join)
        constraints = cur.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid IN ('checkpoint_token'::regclass, 'pair_token'::regclass) ORDER BY contype DESC"
        ).fetchall()
        for table, con, _ in constraints:
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {con}")
        difficulty = rng.gamma(2.0, 1.0, len(position_ids)).astype(np.float32)
        rows_ct, rows_pt = paper.copy_facts(cur, suite, position_ids, difficulty, rng, cap_entropy=False)
        conn.commit()
        timings["copy facts"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '512MB'")
        for table, con, definition in reversed(constraints):  # primary keys first, then foreign keys
            cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {con} {definition}")
        conn.commit()
        timings["keys + foreign keys"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.perf_counter() - t0
    timings["rows checkpoint_token"] = rows_ct
    timings["rows pair_token"] = rows_pt
    return timings


def pandas_side(conninfo: str) -> dict[str, tuple[float, float]]:
    """The same aggregates from raw rows: (read seconds, compute seconds) per statistic."""
    out = {}
    engine = sa.create_engine(conninfo.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn, conn.connection.cursor() as cur:
        t0 = time.perf_counter()
        cid, pid, kab, kba = loader.copy_out(
            cur, "SELECT comparison_id, position_id, kl_ab, kl_ba FROM pair_token", ["int4", "int4", "float4", "float4"]
        )
        pt = pd.DataFrame(
            {"comparison_id": cid, "position_id": pid, "kl": (kab.astype(np.float64) + kba.astype(np.float64)) / 2}
        )
        cmp = pd.read_sql("SELECT comparison_id, kind, size_a AS size, step_a AS step FROM comparison_info", conn)
        pos = pd.read_sql("SELECT position_id, pos_t, pos_prev, target_token_id AS token_id FROM position", conn)
        freq = pd.read_sql("SELECT position_id, log_frequency FROM position_features", conn)
        read_pairs = time.perf_counter() - t0
        t0 = time.perf_counter()
        ck_id, ck_pid, ce, ent, ku, kg = loader.copy_out(
            cur,
            "SELECT checkpoint_id, position_id, ce, entropy, kl_uniform, kl_unigram FROM checkpoint_token",
            ["int4", "int4", "float4", "float4", "float4", "float4"],
        )
        ct = pd.DataFrame(
            {
                "checkpoint_id": ck_id,
                "kl_uniform": ku.astype(np.float64),
                "kl_unigram": kg.astype(np.float64),
                "ce": ce.astype(np.float64),
            }
        )
        ck = pd.read_sql("SELECT checkpoint_id, size, step FROM checkpoint_info", conn)
        read_ckpt = time.perf_counter() - t0

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def expected():
        per = pt.groupby("comparison_id")["kl"].mean().rename("m").reset_index().merge(cmp, on="comparison_id")
        return per.groupby(["kind", "size", "step"])["m"].agg(["mean", "std", "size"])

    def conditional_pos_t():
        d = pt.merge(pos[["position_id", "pos_t"]], on="position_id").dropna(subset=["pos_t"])
        per = (
            d.groupby(["comparison_id", "pos_t"])["kl"].mean().rename("m").reset_index().merge(cmp, on="comparison_id")
        )
        return per.groupby(["kind", "size", "step", "pos_t"])["m"].agg(["mean", "std", "size"])

    def reference():
        per = ct.groupby("checkpoint_id")[["kl_uniform", "kl_unigram", "ce"]].mean().reset_index().merge(ck)
        return per.groupby(["size", "step"]).agg(["mean", "std"])

    def tokens():
        d = pt.merge(pos[["position_id", "token_id"]], on="position_id").merge(cmp, on="comparison_id")
        return d.groupby(["kind", "size", "step", "token_id"])["kl"].mean()

    def context():
        d = pt.merge(cmp, on="comparison_id")
        per = d.groupby(["kind", "size", "step", "position_id"])["kl"].mean().rename("e").reset_index()
        return per.groupby(["kind", "size", "step"])["e"].agg(["mean", "std"])

    def regression_cells():
        d = pt.merge(pos, on="position_id").merge(cmp, on="comparison_id")
        d = d[d["kind"] == "seed_pair"].merge(freq, on="position_id").dropna(subset=["log_frequency"])
        return d.groupby(["step", "size", "log_frequency", "pos_t", "pos_prev"], dropna=False)["kl"].agg(
            ["size", "mean", "var"]
        )

    out["expected_kl"] = (read_pairs, timed(expected))
    out["conditional_kl"] = (read_pairs, timed(conditional_pos_t))
    out["reference_kl"] = (read_ckpt, timed(reference))
    out["token_divergence"] = (read_pairs, timed(tokens))
    out["context_variance"] = (read_pairs, timed(context))
    out["regression cells (report query)"] = (read_pairs, timed(regression_cells))
    out["regression_cells (1 kind)"] = out["regression cells (report query)"]
    out["regression_moments (1 kind)"] = out["regression cells (report query)"]
    engine.dispose()
    return out


def run_scale(server: str, scale: int, keep: bool) -> dict:
    name = create_db(server)
    url, conninfo = urls(server, name)
    engine = sa.create_engine(url)
    try:
        schema.upgrade(engine)
        build_t = build(conninfo, scale, np.random.default_rng(scale))
        t0 = time.perf_counter()
        aggregates.rebuild(engine)
        refresh = {"rebuild_aggregates": time.perf_counter() - t0}
        build_t["rebuild_aggregates"] = refresh["rebuild_aggregates"]
        queries = {label: time_query(conninfo, sql) for label, sql in QUERIES.items()}
        pandas = pandas_side(conninfo)
        return {"build": build_t, "refresh": refresh, "queries": queries, "pandas": pandas}
    finally:
        engine.dispose()
        if keep:
            print(f"kept database {name}")
        else:
            drop_db(server, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,4", help="position multipliers, comma-separated")
    parser.add_argument("--server", default=default_server("CONVDIV_TEST_SERVER"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    load_before = os.getloadavg()
    print(
        f"cores: {os.cpu_count()} (shared with whatever else runs on this machine); load average {load_before[0]:.1f}"
    )
    results = {}
    for scale in scales:
        print(
            f"\n== scale x{scale}: {len(paper.SIZES)} sizes x {len(paper.STEPS)} steps x {len(paper.SEEDS)} seeds over "
            f"{paper.POSITIONS * scale:,} positions",
            flush=True,
        )
        r = results[scale] = run_scale(args.server, scale, args.keep)
        for k, v in r["build"].items():
            print(f"  {k:<24} {v:>12,.1f}" + ("" if k.startswith("rows") else " s"))
        for k, v in r["refresh"].items():
            print(f"    refresh {k:<20} {v:8.2f} s")
        print(f"  {'query':<40} {'rows':>9} {'baseline: pandas read+compute s':>32} {'SQL s':>8} {'SQL vs pandas':>14}")
        for label, (sec, rows) in r["queries"].items():
            pd_t = r["pandas"].get(label)
            pd_s = f"{pd_t[0]:.2f} + {pd_t[1]:.2f}" if pd_t else "(none)"
            speedup = f"{sum(pd_t) / sec:12.1f}x" if pd_t else ""
            flag = "" if sec < 2 else "  (over 2 s)"
            print(f"  {label:<40} {rows:>9,} {pd_s:>32} {sec:>8.3f} {speedup:>14}{flag}", flush=True)
    if len(scales) > 1:
        base = scales[0]
        print(f"\n== linearity: SQL time at each scale / time at x{base} (data grows x{scales[-1] // base})")
        for label in QUERIES:
            ratios = "  ".join(
                f"x{s}: {results[s]['queries'][label][0] / results[base]['queries'][label][0]:5.2f}" for s in scales[1:]
            )
            print(f"  {label:<40} {ratios}")
        for label in ("rebuild_aggregates", "copy facts"):
            ratios = "  ".join(
                f"x{s}: {results[s]['build'][label] / results[base]['build'][label]:5.2f}" for s in scales[1:]
            )
            print(f"  {label:<40} {ratios}")
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        out = {}
        for scale, r in results.items():
            rows = {}
            for label, (sec, n) in r["queries"].items():
                pd_t = r["pandas"].get(label)
                rows[label] = {"sql_s": sec, "rows": n, "speedup_vs_pandas": sum(pd_t) / sec if pd_t else None}
            out[f"x{scale}"] = {
                "slowest_view_s": max(sec for sec, _ in r["queries"].values()),
                "queries": rows,
                "build": r["build"],
            }
        print(json.dumps({**out, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()

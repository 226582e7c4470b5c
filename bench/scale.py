"""The live warehouse as it grows: per-unit publish time, report-view times, bytes per row and `db check`, on
warehouses of 1, 4 and 16 paper-scale suites.

Paper scale (convdiv.testing.paper, as bench/views.py): one suite of 5 sizes x 5 seeds x 20 steps on the study's
4,662 positions = 2.33M checkpoint_token + 4.66M pair_token rows. xK holds K such suites on one corpus (x16 = 37M + 75M rows), loaded
with binary COPY and aggregated once with ``rebuild_aggregates()`` (timed: what migration 0003's backfill costs).
Then, on each warehouse, in one process:

- publish: one new unit of a probe suite (5 seeds x 4,662 positions + 10 seed pairs + 5 consecutive-step pairs =
  23k checkpoint_token + 70k pair_token rows) through the real path (``ledger.claim`` + ``ledger.publish_unit``:
  staging COPY, set-wise checks, INSERT, ``maintain_aggregates``), best of 3. Split into the facts (the publish
  less its aggregates) and the aggregates (``maintain_aggregates`` for the same unit, timed alone in a rolled-back
  transaction with the publish's settings, best of 3). Baseline: ``psql \\copy`` of the same rows (binary) into the
  same (foreign-key free) fact tables, two psql processes as a user would run them (their start-up, measured
  with ``SELECT 1``, is printed beside). Goals: x16 publish within 1.3x of x1; the facts' publish >= 0.7x psql.
- the report on suite ``paper-0``: ``build_report`` with every query it sends timed (view name, seconds, rows;
  read into pandas as the report does), and its total. Goal: every report view < 2 s at x16 on 2 cores.
- every analysis view read whole for one suite (``SELECT * ... WHERE suite = 'paper-0'``, fetched into Python, as
  an analyst's notebook would), best of 2.
- bytes per fact row on disk, table + indexes; the aggregates' total size.
- ``check_aggregates()`` (``convdiv db check``): recomputes every aggregate (--check to time it; it reads every
  fact, so it costs what the backfill costs).

    .venv/bin/python -m bench.scale [--scales 1,4,16] [--check] [--server postgresql://postgres@127.0.0.1:5432/postgres]
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
import psycopg
import sqlalchemy as sa

from bench.common import create_db, default_server, drop_db, time_query, urls
from convdiv.testing import paper, writers
from convdiv.warehouse import ledger, loader, names, schema

ANALYSIS_VIEWS = (
    names.EXPECTED_KL,
    names.REFERENCE_KL,
    names.CONDITIONAL_KL,
    names.RELATIVE_DIVERGENCE,
    names.CE_DIFFERENCE,
    names.PHASE_BOUNDARIES,
    names.TOKEN_DIVERGENCE,
    names.CONTEXT_VARIANCE,
    names.REGRESSION_CELLS,
    names.REGRESSION_MOMENTS,
)


def _phase(k: int, label: str, seconds: float) -> None:
    print(f"  [x{k}] {label}: {seconds:.1f} s", flush=True)


def build(conninfo: str, k: int, rng: np.random.Generator) -> dict:
    t = {}
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        # the corpus (positions, vocabulary) of the paper-scale builder (convdiv.testing.paper)
        corpus, position_ids = paper.add_corpus(conn, "pile-sample", rng)
        difficulty = rng.gamma(2.0, 1.0, len(position_ids)).astype(np.float32)
        # primary keys dropped for the bulk load, rebuilt after (the design's "indexes after bulk loads")
        cur.execute("ALTER TABLE checkpoint_token DROP CONSTRAINT pk_checkpoint_token")
        cur.execute("ALTER TABLE pair_token DROP CONSTRAINT pk_pair_token")
        rows = [0, 0]
        for i in range(k):
            suite = paper.add_suite(cur, f"paper-{i}")
            ct, pt = paper.copy_facts(cur, suite, position_ids, difficulty, rng)
            rows[0] += ct
            rows[1] += pt
            conn.commit()
        t["copy facts"] = time.perf_counter() - t0
        _phase(k, "copy facts", t["copy facts"])
        t0 = time.perf_counter()
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute(
            "ALTER TABLE checkpoint_token ADD CONSTRAINT pk_checkpoint_token PRIMARY KEY (checkpoint_id, position_id)"
        )
        cur.execute("ALTER TABLE pair_token ADD CONSTRAINT pk_pair_token PRIMARY KEY (comparison_id, position_id)")
        conn.commit()
        t["primary keys"] = time.perf_counter() - t0
        _phase(k, "primary keys", t["primary keys"])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        t0 = time.perf_counter()
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SELECT rebuild_aggregates()")
        t["rebuild_aggregates (backfill)"] = time.perf_counter() - t0
        _phase(k, "rebuild_aggregates", t["rebuild_aggregates (backfill)"])
        conn.execute("VACUUM ANALYZE")
    return {"timings": t, "rows": rows, "corpus": corpus, "position_ids": position_ids, "difficulty": difficulty}


def probe_unit(conninfo: str, built: dict, rng: np.random.Generator) -> dict:
    """A new suite's unit (size 70m, step 2000: 5 checkpoints, 10 seed pairs, 5 consecutive-step pairs), its rows
    and a claimable ledger unit for it."""
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        probe = paper.add_suite(cur, f"probe-{os.getpid()}-{time.time_ns()}", steps=[1000, 2000], sizes=["70m"])
        unit = ledger.ensure_units(conn, probe.suite_id, built["corpus"], ["size=70m/step=2000"])["size=70m/step=2000"]
        conn.commit()
    ct, pt = paper.unit_rows(probe, "70m", 2000, built["position_ids"], built["difficulty"], rng)
    owned = [probe.ckpt["70m", s, 2000] for s in paper.SEEDS]
    rows = ledger.UnitRows(
        unit_id=unit,
        unit_key="size=70m/step=2000",
        corpus_id=built["corpus"],
        config_hash="h",
        owned_checkpoint_ids=owned,
        owned_kinds=["seed_pair", "consecutive_step"],
        checkpoint_token=ct,
        pair_token=pt,
        expected_checkpoint_rows=len(ct["ce"]),
        expected_pair_rows=len(pt["kl_ab"]),
    )
    comparisons = [c for c, _, s in probe.comps if s == 2000]
    return {"rows": rows, "owned": owned, "comparisons": comparisons}


def publish_once(conninfo: str, run_id: int, rows: ledger.UnitRows) -> tuple[float, dict[str, float]]:
    """One publish of the unit through the real path (claim, publish_unit); its wall time and its parts as
    publish_unit timed them while it ran."""
    candidate = [ledger.Candidate(rows.unit_id, "h", "g")]
    with psycopg.connect(conninfo, autocommit=True) as conn:  # due again (a done unit is not claimable)
        conn.execute("UPDATE ingest_unit SET status = 'pending' WHERE unit_id = %s", (rows.unit_id,))
    claim = ledger.claim(conninfo, candidate, run_id, force_before=None)
    assert claim is not None
    parts: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        ledger.publish_unit(claim, rows, ledger.Provenance("bench", "cpu", "float32", 0), 0.0, timings=parts)
        wall = time.perf_counter() - t0
    finally:
        claim.release()
    return wall, parts


def psql_copy(conninfo: str, files: dict[str, Path]) -> float:
    """``psql \\copy`` of each file into its table, one psql process per table (as a user would run them)."""
    t0 = time.perf_counter()
    for table, path in files.items():
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                conninfo,
                "-c",
                f"\\copy {table} FROM '{path}' (FORMAT binary)",
            ],
            check=True,
        )
    return time.perf_counter() - t0


def probe_publish(conninfo: str, built: dict, rng: np.random.Generator, rounds: int = 3) -> dict:
    """The baseline and the publish of the same rows in interleaved rounds, each timed directly.

    Per round: the probe's fact rows deleted, ``psql \\copy`` of them (baseline); deleted again, then the unit
    published through ``ledger.publish_unit``, which times its own parts as they run (facts: statistics refresh,
    lock, checks, deletes, COPY; aggregates: maintain_aggregates; done: ledger row and COMMIT). Ratios are
    psql's seconds over the part's, per round (> 1: faster than psql); the best round of each is kept too.
    """
    probe = probe_unit(conninfo, built, rng)
    rows = probe["rows"]
    run_id = ledger.start_run(conninfo, {"bench": "scale"}, "bench")

    def delete_facts() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM checkpoint_token WHERE checkpoint_id = ANY(%s)", (probe["owned"],))
            conn.execute("DELETE FROM pair_token WHERE comparison_id = ANY(%s)", (probe["comparisons"],))

    publish_once(conninfo, run_id, rows)  # warm-up: the first publish of a suite creates its groups
    out: dict[str, list[float]] = {"psql": [], "publish": [], "facts": [], "aggregates": [], "done": [], "start": []}
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for table, data, types in (
            ("checkpoint_token", rows.checkpoint_token, writers.CHECKPOINT_TOKEN_TYPES),
            ("pair_token", rows.pair_token, writers.PAIR_TOKEN_TYPES),
        ):
            files[table] = Path(tmp) / f"{table}.bin"
            files[table].write_bytes(loader.encode_binary_copy(list(data.values()), types))
        for _ in range(rounds):
            delete_facts()
            out["psql"].append(psql_copy(conninfo, files))
            delete_facts()
            wall, parts = publish_once(conninfo, run_id, rows)
            out["publish"].append(wall)
            for part in ("facts", "aggregates", "done"):
                out[part].append(parts[part])
            t0 = time.perf_counter()  # what two psql processes cost before any row: start-up and connection
            for _table in files:
                subprocess.run(["psql", "-X", "-q", conninfo, "-c", "SELECT 1"], check=True, capture_output=True)
            out["start"].append(time.perf_counter() - t0)
    ledger.finish_run(conninfo, run_id, "done")
    n_rows = len(rows.checkpoint_token["ce"]) + len(rows.pair_token["kl_ab"])
    ratio = {
        part: [p / x for p, x in zip(out["psql"], out[part], strict=True)]
        for part in ("publish", "facts", "aggregates")
    }
    return {"rows": n_rows, "seconds": out, "ratio_vs_psql": ratio}


def report_reads(url: sa.engine.URL, suite: str = "paper-0") -> dict:
    """Build the report of ``suite`` and time every query it sends (through ReportData.query, as it reads them:
    into pandas); per view, the seconds and rows of its reads, and the report's total."""
    import re

    from convdiv.report import data as report_data
    from convdiv.report.build import build_report

    reads: list[tuple[str, float, int]] = []
    original = report_data.ReportData.query

    def timed(self, sql, params=None, **kw):
        t0 = time.perf_counter()
        df = original(self, sql, params, **kw)
        found = re.search(r"\bFROM\s+([a-z_]+)", sql)
        reads.append((found.group(1) if found else sql[:40], time.perf_counter() - t0, len(df)))
        return df

    engine = sa.create_engine(url)
    report_data.ReportData.query = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = build_report(engine, Path(tmp) / "report.html", suite=suite)
            total = time.perf_counter() - t0
    finally:
        report_data.ReportData.query = original
        engine.dispose()
    per_view: dict[str, tuple[float, int, int]] = {}
    for view, seconds, n in reads:
        s0, n0, k0 = per_view.get(view, (0.0, 0, 0))
        per_view[view] = (s0 + seconds, n0 + n, k0 + 1)
    return {"views": per_view, "total_s": total, "errors": result.errors}


# the flat views filtered as docs/sql.md shows them (by checkpoint, comparison, kind and step; its examples)
FLAT_QUERIES = {
    "token_records, one checkpoint": "SELECT * FROM token_records "
    "WHERE suite = 'paper-0' AND size = '410m' AND seed = 3 AND step = 512",
    "token_records, docs/sql.md example 8": "SELECT seed, step, avg(ce) AS mean_ce, count(*) AS occurrences "
    "FROM token_records t WHERE token = 'tok1' AND suite = 'paper-0' "
    "AND size_rank = (SELECT max(size_rank) FROM model WHERE suite_id = t.suite_id) GROUP BY seed, step",
    "pair_records, one comparison": "SELECT * FROM pair_records "
    "WHERE comparison_id = (SELECT min(comparison_id) FROM comparison_info WHERE suite = 'paper-0')",
    "pair_records, one size's seed pairs at one step": "SELECT * FROM pair_records "
    "WHERE suite = 'paper-0' AND kind = 'seed_pair' AND size_a = '410m' AND step_a = 512",
    "pair_records, learnability (docs/sql.md)": "SELECT size_a, step_b, avg(kl) AS mean_kl FROM pair_records "
    "WHERE suite = 'paper-0' AND kind = 'consecutive_step' AND seed_a = 1 AND direction = 'ab' GROUP BY 1, 2",
    "regression_inputs, one kind, size and step": "SELECT * FROM regression_inputs "
    "WHERE suite = 'paper-0' AND kind = 'seed_pair' AND size = '410m' AND step = 512",
    "regression_inputs, one kind and step": "SELECT * FROM regression_inputs "
    "WHERE suite = 'paper-0' AND kind = 'seed_pair' AND step = 512",
}


def flat_view_times(conninfo: str, repeat: int = 2) -> dict[str, dict[str, float]]:
    """Each flat-view read fetched whole into Python with JIT on and with JIT off (the warehouse's setting since
    migration 0020), in alternating order, best of ``repeat`` each."""
    out = {}
    for label, sql in FLAT_QUERIES.items():
        best = {"on": float("inf"), "off": float("inf")}
        n = 0
        for r in range(repeat):
            for jit in ("on", "off") if r % 2 == 0 else ("off", "on"):
                with psycopg.connect(conninfo) as conn:
                    conn.execute(f"SET jit = {jit}")
                    t0 = time.perf_counter()
                    n = len(conn.execute(sql).fetchall())
                    best[jit] = min(best[jit], time.perf_counter() - t0)
        out[label] = {"jit_on_s": best["on"], "jit_off_s": best["off"], "rows": n}
    return out


def view_times(conninfo: str) -> dict[str, tuple[float, int]]:
    out = {}
    for view in ANALYSIS_VIEWS:
        out[view] = time_query(conninfo, f"SELECT * FROM {view} WHERE suite = 'paper-0'")
    return out


def sizes(conninfo: str, rows: list[int]) -> dict[str, float]:
    with psycopg.connect(conninfo) as conn:  # a partitioned table's size is its partitions'
        ct, pt, agg = conn.execute(
            "SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('checkpoint_token')), "
            "(SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('pair_token')), "
            "(SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c WHERE c.relkind = 'r' AND c.relname IN "
            "('final_surprisal', 'checkpoint_stats', 'comparison_stats', 'comparison_group') "
            "OR (c.relkind = 'r' AND c.relname LIKE 'agg\\_%'))"
        ).fetchone()
    ct, pt = float(ct), float(pt)
    return {
        "bytes/checkpoint_token row": ct / rows[0],
        "bytes/pair_token row": pt / rows[1],
        "fact tables GB": (ct + pt) / 1e9,
        "aggregates GB": float(agg) / 1e9,
    }


def reuse(conninfo: str, rng: np.random.Generator) -> dict:
    """What build() returns, for a warehouse an earlier run kept (--keep): its corpus, positions and row counts
    (the build's timings are not known; the probe's difficulty values are drawn afresh)."""
    with psycopg.connect(conninfo) as conn:
        corpus = conn.execute("SELECT corpus_id FROM corpus WHERE name = 'pile-sample'").fetchone()[0]
        position_ids = np.array(
            conn.execute("SELECT position_id FROM position WHERE corpus_id = %s ORDER BY 1", (corpus,)).fetchall(),
            dtype=np.int32,
        ).ravel()
        rows = list(
            conn.execute("SELECT (SELECT count(*) FROM checkpoint_token), (SELECT count(*) FROM pair_token)").fetchone()
        )
    difficulty = rng.gamma(2.0, 1.0, len(position_ids)).astype(np.float32)
    return {"timings": {}, "rows": rows, "corpus": corpus, "position_ids": position_ids, "difficulty": difficulty}


def headline(publish: dict) -> dict[str, float]:
    """The publish's ratios to psql: the median over rounds of each round's side-by-side ratio, and the ratio of
    the best rounds."""
    sec, ratio = publish["seconds"], publish["ratio_vs_psql"]
    return {
        "unit_vs_psql": float(np.median(ratio["publish"])),
        "facts_vs_psql": float(np.median(ratio["facts"])),
        "unit_vs_psql_best": min(sec["psql"]) / min(sec["publish"]),
        "facts_vs_psql_best": min(sec["psql"]) / min(sec["facts"]),
    }


def run_scale(args, k: int) -> dict:
    name = args.database or create_db(args.server)
    url, conninfo = urls(args.server, name)
    engine = sa.create_engine(url)
    try:
        schema.upgrade(engine)
        rng = np.random.default_rng(k)
        built = reuse(conninfo, rng) if args.database else build(conninfo, k, rng)
        r: dict = {"build": built["timings"], "rows": built["rows"], "load_before": os.getloadavg()}
        r["publish"] = probe_publish(conninfo, built, rng, rounds=args.rounds)
        r["headline"] = headline(r["publish"])
        r["flat_views"] = flat_view_times(conninfo)
        if not args.publish_only:
            r["report"] = report_reads(url)
            r["views"] = view_times(conninfo)
            r["size"] = sizes(conninfo, built["rows"])
        if args.check:
            t0 = time.perf_counter()
            with psycopg.connect(conninfo) as conn:
                bad = [row for row in conn.execute("SELECT * FROM check_aggregates()") if any(row[4:])]
            r["check_s"] = time.perf_counter() - t0
            r["check_bad"] = len(bad)
        r["load_after"] = os.getloadavg()
        return r
    finally:
        engine.dispose()
        if args.keep or args.database:
            print(f"  (warehouse kept: --database {name})")
        else:
            drop_db(args.server, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of psql and the publish")
    parser.add_argument("--check", action="store_true", help="also time check_aggregates() (db check)")
    parser.add_argument("--publish-only", action="store_true", help="the publish and the flat views only")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses (for --database)")
    parser.add_argument("--database", help="reuse a warehouse kept by --keep (one scale: the one it was built at)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    parser.add_argument("--server", default=default_server())
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()} (shared); load average {os.getloadavg()[0]:.1f}")
    results = {}
    for k in [int(x) for x in args.scales.split(",")]:
        results[k] = run_scale(args, k)
        print_scale(k, results[k], flush=True)
    base = results[min(results)]
    print("\nratios against the smallest warehouse (same process):")
    for k, r in results.items():
        line = f"  x{k:<3} publish {np.median(r['publish']['seconds']['publish']) / np.median(base['publish']['seconds']['publish']):.2f}x"
        if "report" in r:
            worst, name = max((t, v) for v, (t, _, _) in r["report"]["views"].items())
            line += f"   slowest report view {name} {worst:.3f} s (goal < 2 s)   report {r['report']['total_s']:.1f} s"
        print(line)
    if args.json:
        print(
            json.dumps(
                {
                    f"x{k}": {**r["headline"], "load": [r["load_before"], r["load_after"]], "results": r}
                    for k, r in results.items()
                },
                default=float,
            )
        )


def print_scale(k: int, r: dict, flush: bool = False) -> None:
    ct, pt = r["rows"]
    print(f"\n== x{k}: {ct:,} checkpoint_token + {pt:,} pair_token rows", flush=flush)
    for label, seconds in r["build"].items():
        print(f"  build {label:<32} {seconds:8.1f} s")
    p, h = r["publish"], r["headline"]
    sec = p["seconds"]

    def col(values: list[float]) -> str:
        return " ".join(f"{v:6.3f}" for v in values)

    print(f"  publish one unit: {p['rows']:,} rows, {len(sec['psql'])} interleaved rounds (seconds per round)")
    print(
        f"    baseline: psql \\copy of the unit's facts       {col(sec['psql'])}  (two psql start-ups: {col(sec['start'])})"
    )
    print(f"    the whole unit (publish_unit, aggregates too) {col(sec['publish'])}")
    print(f"      its facts part (checks, deletes, COPY)      {col(sec['facts'])}")
    print(f"      its aggregates (maintain_aggregates)        {col(sec['aggregates'])}")
    print(f"      ledger row and COMMIT                       {col(sec['done'])}")
    print(
        f"    the whole unit = {h['unit_vs_psql']:.2f}x psql (median of rounds; goal >= 0.5; best rounds "
        f"{h['unit_vs_psql_best']:.2f}x); its facts part = {h['facts_vs_psql']:.2f}x (goal >= 0.9; best rounds "
        f"{h['facts_vs_psql_best']:.2f}x)"
    )
    print("  flat views filtered as docs/sql.md shows (fetched whole; best of 2)   JIT on   JIT off   rows")
    for label, v in r["flat_views"].items():
        flag = "" if min(v["jit_on_s"], v["jit_off_s"]) < 1 else "  (over 1 s)"
        print(f"    {label:<52} {v['jit_on_s']:7.3f}  {v['jit_off_s']:7.3f}  {v['rows']:>8,}{flag}")
    if "report" in r:
        rep = r["report"]
        errors = "; errors: " + str(rep["errors"]) if rep["errors"] else ""
        print(f"  report of paper-0: {rep['total_s']:.1f} s in all{errors}")
        for view, (seconds, n, q) in sorted(rep["views"].items(), key=lambda kv: -kv[1][0]):
            print(f"    report reads {view:<22} {seconds:7.3f} s  {n:>9,} rows  ({q} quer{'y' if q == 1 else 'ies'})")
        for view, (seconds, n) in r["views"].items():
            print(f"  whole view {view:<22} {seconds:7.3f} s  {n:>9,} rows")
        for label, value in r["size"].items():
            print(f"  {label:<32} {value:10.2f}")
    if "check_s" in r:
        print(f"  check_aggregates (db check)     {r['check_s']:8.1f} s, {r['check_bad']} aggregate(s) differing")
    print(f"  load average before / after: {r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}")


if __name__ == "__main__":
    main()

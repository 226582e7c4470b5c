"""Analysts' reads of the flat views: each read docs/sql.md shows, with the views as migration 0020 left them and as
the head defines them, side by side in one process on one warehouse.

The baseline, printed first on each row, is the read with the previous definitions: ``token_records``,
``pair_records`` and ``regression_inputs`` as 0020 loaded them (``views.read(name, as_of="0020")``: the version
frozen at or before 0020), created as TEMPORARY views in the reading session, which shadow the warehouse's own (a
session's temporary schema is searched first). The other side reads the warehouse's views (the head's). Both sides read the same tables
and indexes (an index the head adds helps both: none is added). Each read is fetched whole into Python (psycopg,
``fetchall``): the time includes planning, execution and moving the rows to the client, not the connection. Rounds
alternate the order (before, after / after, before), each read on a fresh connection; the best round of each is
kept. Before timing, each read's rows are compared between the two sides (as sorted lists): a mismatch stops the
bench. The warehouse is only read (temporary views vanish with their session).

Goal (issue 23, 4): every read < 1 s at paper scale (5 sizes x 5 seeds x 20 steps, 4,662 positions: the warehouse
``python -m bench.report --builder synthetic --keep`` or ``python -m bench.scale --keep`` builds). ``--json``: per
read, before_s, after_s, speedup (before / after), the same three on the server alone (``before_server_s``, ``after_server_s``,
``server_speedup``: planning + execution from EXPLAIN (ANALYZE, TIMING OFF), every column computed, no row sent) and
rows; ``slowest_before_s``, ``slowest_after_s``, ``slowest_after_server_s`` and the load before and after.

    .venv/bin/python -m bench.reads --url postgresql://postgres@127.0.0.1:5432/WAREHOUSE [--suite S] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time

import psycopg

from convdiv.warehouse import names, views

BEFORE = "0020"
FLAT = (names.TOKEN_RECORDS, names.PAIR_RECORDS, names.REGRESSION_INPUTS)

# the flat views filtered as docs/sql.md shows them, and one read bounded by position range (no view may get slower
# there); {suite}, {size}, {seed}, {step}, {token}, {lo}, {hi} filled from the warehouse
READS = {
    "token_records, one checkpoint": "SELECT * FROM token_records "
    "WHERE suite = {suite} AND size = {size} AND seed = {seed} AND step = {step}",
    "token_records, docs/sql.md example 8": "SELECT seed, step, avg(ce) AS mean_ce, count(*) AS occurrences "
    "FROM token_records t WHERE token = {token} AND suite = {suite} "
    "AND size_rank = (SELECT max(size_rank) FROM model WHERE suite_id = t.suite_id) GROUP BY seed, step",
    "pair_records, one comparison": "SELECT * FROM pair_records "
    "WHERE comparison_id = (SELECT min(comparison_id) FROM comparison_info WHERE suite = {suite})",
    "pair_records, one size's seed pairs at one step": "SELECT * FROM pair_records "
    "WHERE suite = {suite} AND kind = 'seed_pair' AND size_a = {size} AND step_a = {step}",
    "pair_records, learnability (docs/sql.md)": "SELECT size_a, step_b, avg(kl) AS mean_kl FROM pair_records "
    "WHERE suite = {suite} AND kind = 'consecutive_step' AND seed_a = {seed} AND direction = 'ab' GROUP BY 1, 2",
    "pair_records, 101 positions of every comparison": "SELECT * FROM pair_records "
    "WHERE position_id BETWEEN {lo} AND {hi}",
    "regression_inputs, one kind, size and step": "SELECT * FROM regression_inputs "
    "WHERE suite = {suite} AND kind = 'seed_pair' AND size = {size} AND step = {step}",
    "regression_inputs, one kind and step (all sizes)": "SELECT * FROM regression_inputs "
    "WHERE suite = {suite} AND kind = 'seed_pair' AND step = {step}",
}


def temporary(sql: str, name: str) -> str:
    """A view file's CREATE statement made a temporary view of the same name (comments kept out)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    made, n = re.subn(rf"CREATE\s+OR\s+REPLACE\s+VIEW\s+{name}\b", f"CREATE TEMPORARY VIEW {name}", body, count=1)
    if n != 1:
        raise SystemExit(f"bench/reads.py: {name}@{BEFORE}: no CREATE OR REPLACE VIEW {name} statement")
    return made


def as_of_before(name: str) -> str:
    """The view's SQL as it stood at BEFORE (its frozen version of the latest revision <= BEFORE)."""
    return views.read(name, as_of=BEFORE)


def connect(url: str, before: bool) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    if before:
        for name in FLAT:
            conn.execute(temporary(as_of_before(name), name))
    return conn


def fill(url: str, suite: str | None) -> dict[str, str]:
    """The filters' values: the suite, its largest size, its first seed, a middle step and a frequent token."""
    with psycopg.connect(url) as conn:

        def one(sql: str, *params):
            row = conn.execute(sql, params).fetchone()
            if row is None or row[0] is None:
                raise SystemExit(f"bench/reads.py: the warehouse has no {sql.split('FROM ')[1].split()[0]} rows")
            return row[0]

        suite = suite or one("SELECT name FROM suite ORDER BY suite_id LIMIT 1")
        size = one(
            "SELECT size FROM model m JOIN suite s USING (suite_id) WHERE s.name = %s ORDER BY size_rank DESC LIMIT 1",
            suite,
        )
        seed = one("SELECT min(seed) FROM checkpoint_info WHERE suite = %s", suite)
        steps = [
            r[0]
            for r in conn.execute("SELECT DISTINCT step FROM checkpoint_info WHERE suite = %s ORDER BY 1", (suite,))
        ]
        token = one(
            "SELECT vt.token FROM position p JOIN vocab_token vt ON vt.corpus_id = p.corpus_id AND vt.token_id = p.target_token_id GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
        )
        lo = one("SELECT min(position_id) + 100 FROM position")
    step = 512 if 512 in steps else steps[len(steps) // 2]
    values = {"suite": suite, "size": size, "seed": seed, "step": step, "token": token, "lo": lo, "hi": lo + 100}
    return {k: str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for k, v in values.items()}


def fetch(url: str, sql: str, before: bool) -> tuple[float, list]:
    with connect(url, before) as conn:
        t0 = time.perf_counter()
        rows = conn.execute(sql).fetchall()
        return time.perf_counter() - t0, rows


def server(url: str, sql: str, before: bool) -> float:
    """The server's planning + execution time of the read, every column computed, no row sent (EXPLAIN ANALYZE
    without per-node timing)."""
    with connect(url, before) as conn:
        [[plan]] = conn.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql).fetchone()
        return (plan["Planning Time"] + plan["Execution Time"]) / 1000


def key(row: tuple) -> tuple:
    return tuple((v is None, v if v is not None else 0) for v in row)


def measure(url: str, sql: str, repeat: int) -> dict:
    _, old = fetch(url, sql, before=True)
    _, new = fetch(url, sql, before=False)
    if sorted(old, key=key) != sorted(new, key=key):
        raise SystemExit(f"bench/reads.py: the two definitions return different rows for: {sql}")
    best = {(side, how): float("inf") for side in (True, False) for how in ("fetch", "server")}
    for r in range(repeat):
        for before in (True, False) if r % 2 == 0 else (False, True):
            best[before, "fetch"] = min(best[before, "fetch"], fetch(url, sql, before)[0])
            best[before, "server"] = min(best[before, "server"], server(url, sql, before))
    return {
        "before_s": best[True, "fetch"],
        "after_s": best[False, "fetch"],
        "speedup": best[True, "fetch"] / best[False, "fetch"],
        "before_server_s": best[True, "server"],
        "after_server_s": best[False, "server"],
        "server_speedup": best[True, "server"] / best[False, "server"],
        "rows": len(new),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a paper-scale warehouse (only read)")
    parser.add_argument("--suite", help="the suite to read (default: the first)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds (best kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    args = parser.parse_args()
    url = args.url.replace("postgresql+psycopg://", "postgresql://", 1)
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    values = fill(url, args.suite)
    print("filters: " + ", ".join(f"{k} = {v}" for k, v in values.items()))
    print(f"best of {args.repeat} alternating rounds; before = the views as {BEFORE} left them (the baseline)")
    print("  fetched whole into Python (planning + execution + rows sent and decoded); server: planning + execution")
    print(
        f"  {'read':<50} {'before':>8} {'after':>8} {'speedup':>8}   {'server:':<7} {'before':>8} {'after':>8} "
        f"{'speedup':>8} {'rows':>8}"
    )
    out: dict = {"reads": {}}
    for label, template in READS.items():
        r = measure(url, template.format(**values), args.repeat)
        out["reads"][label] = r
        flag = "" if r["after_s"] < 1 else "  (over 1 s)"
        print(
            f"  {label:<50} {r['before_s']:7.3f}s {r['after_s']:7.3f}s {r['speedup']:7.2f}x   {'':<7} "
            f"{r['before_server_s']:7.3f}s {r['after_server_s']:7.3f}s {r['server_speedup']:7.2f}x {r['rows']:>8,}{flag}",
            flush=True,
        )
    out["slowest_before_s"] = max(r["before_s"] for r in out["reads"].values())
    out["slowest_after_s"] = max(r["after_s"] for r in out["reads"].values())
    out["slowest_after_server_s"] = max(r["after_server_s"] for r in out["reads"].values())
    load_after = os.getloadavg()
    print(
        f"slowest read fetched whole: before {out['slowest_before_s']:.3f} s, after {out['slowest_after_s']:.3f} s; "
        f"on the server, after: {out['slowest_after_server_s']:.3f} s (goal < 1 s)"
    )
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        print(json.dumps({**out, "filters": values, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()

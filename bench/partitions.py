"""Removing a corpus, and reading one corpus's facts, on plain (revision 0010) vs partitioned (0011) fact tables.

A warehouse of two corpora, each with one paper-grid suite (convdiv.testing.paper's shape: 5 sizes x 5 seeds x 20 steps on
4,662 positions = 2.33M checkpoint_token + 6.88M pair_token rows per corpus, with seed pairs and consecutive steps),
is built twice from the same random draws, in one process: at 0010 (plain fact tables) and at head (one partition
per corpus). On each:

- reads of one corpus's facts, best of 3: bound by its position-id range (``count(*)``, ``avg(ce)`` of its
  checkpoint_token rows: partitioned, the planner reads its partition only); and by corpus name through
  token_records (no bound on the partition key: both layouts read every corpus's rows);
- one ingest unit published on corpus B through the real ledger path (bench/scale.py's probe: checks, COPY into the
  parent tables, maintain_aggregates), best of 3 rounds interleaved with psql \\copy of the same rows;
- at head, before removing: the alternative removal the partitions also allow, DELETE of corpus A's partitions'
  rows (no join), timed in a transaction that is rolled back (then VACUUM);
- removing corpus A, once: at 0010 the statements ``corpus remove`` ran at 0010 (count by a join with position,
  DELETE ... USING position of each fact table, DELETE FROM corpus; one transaction); at head ``remove_corpus``
  (count of A's partitions, DELETE FROM corpus, DROP TABLE of A's partitions);
- corpus B's facts are counted afterwards (they must be intact).

Aggregates are not built (``rebuild_aggregates`` costs minutes per suite on 2 shared cores): the removal's cascade
over them is the same statement in both layouts. Prints the figures (the plain layout, the baseline, first) and the
ratios 0010 / head; ``--json``: those ratios (keys ``remove_speedup``, ``publish_plain_vs_partitioned``,
``read_speedup`` per read) and the load.

    .venv/bin/python -m bench.partitions [--steps 20] [--json] [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import psycopg
import sqlalchemy as sa

from bench import scale
from bench.common import create_db, default_server, drop_db, urls
from convdiv.corpus.load import remove_corpus
from convdiv.testing import paper
from convdiv.warehouse import schema

CORPORA = ("corpus-a", "corpus-b")
# corpus remove at revision 0010 (convdiv/corpus/sql/ then): count, delete the facts by a join, delete the corpus
REMOVE_0010 = (
    "SELECT (SELECT count(*) FROM checkpoint_token ct JOIN position p USING (position_id) WHERE p.corpus_id = %(c)s)"
    " + (SELECT count(*) FROM pair_token pt JOIN position p USING (position_id) WHERE p.corpus_id = %(c)s)",
    "DELETE FROM checkpoint_token ct USING position p WHERE p.position_id = ct.position_id AND p.corpus_id = %(c)s",
    "DELETE FROM pair_token pt USING position p WHERE p.position_id = pt.position_id AND p.corpus_id = %(c)s",
    "DELETE FROM corpus WHERE corpus_id = %(c)s",
)
READS = {
    "one corpus by position range (checkpoint_token)": "SELECT count(*), avg(ce) FROM checkpoint_token WHERE position_id >= %(lo)s AND position_id < %(hi)s",
    "one corpus by position range (pair_token)": "SELECT count(*), avg(kl_ab) FROM pair_token WHERE position_id >= %(lo)s AND position_id < %(hi)s",
    "one corpus by name (token_records)": "SELECT count(*), avg(ce) FROM token_records WHERE corpus = %(name)s",
}


def build(conninfo: str, partitioned: bool, steps: list[int]) -> dict[str, dict]:
    rng = np.random.default_rng(7)
    out = {}
    with psycopg.connect(conninfo) as conn:
        for name in CORPORA:
            corpus, position_ids = paper.add_corpus(conn, name, rng, attach=partitioned)
            difficulty = rng.gamma(2.0, 1.0, len(position_ids)).astype(np.float32)
            with conn.cursor() as cur:
                suite = paper.add_suite(cur, f"suite-{name}", steps=steps)
                paper.copy_facts(cur, suite, position_ids, difficulty, rng)
            conn.commit()
            out[name] = {
                "corpus_id": corpus,
                "rows": suite.rows,
                "lo": int(position_ids.min()),
                "hi": int(position_ids.max()) + 1,
                "position_ids": position_ids,
                "difficulty": difficulty,
            }
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return out


def best_of(conninfo: str, sql: str, params: dict, repeat: int = 3) -> float:
    best = float("inf")
    with psycopg.connect(conninfo) as conn:
        for _ in range(repeat):
            t0 = time.perf_counter()
            conn.execute(sql, params).fetchall()
            best = min(best, time.perf_counter() - t0)
            conn.rollback()
    return best


def facts_of(conninfo: str, corpus: dict) -> int:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM checkpoint_token WHERE position_id >= %(lo)s AND position_id < %(hi)s)"
            " + (SELECT count(*) FROM pair_token WHERE position_id >= %(lo)s AND position_id < %(hi)s)",
            corpus,
        ).fetchone()[0]


def measure(server: str, revision: str, steps: list[int]) -> dict:
    name = create_db(server)
    url, conninfo = urls(server, name)
    engine = sa.create_engine(url)
    partitioned = revision != "0010"
    try:
        schema.upgrade(engine, revision)
        t0 = time.perf_counter()
        corpora = build(conninfo, partitioned, steps)
        r = {"build_s": time.perf_counter() - t0, "corpora": corpora, "reads": {}}
        a, b = corpora["corpus-a"], corpora["corpus-b"]
        print(
            f"\n== {'partitioned (head)' if partitioned else 'plain (0010)'}: 2 corpora x "
            f"{a['rows'][0]:,} checkpoint_token + {a['rows'][1]:,} pair_token rows, built in {r['build_s']:.0f} s",
            flush=True,
        )
        for label, sql in READS.items():
            r["reads"][label] = best_of(conninfo, sql, {"lo": b["lo"], "hi": b["hi"], "name": "corpus-b"})
            print(f"  {'read ' + label:<55} {r['reads'][label]:8.3f} s", flush=True)
        r["publish"] = scale.probe_publish(
            conninfo,
            {"corpus": b["corpus_id"], "position_ids": b["position_ids"], "difficulty": b["difficulty"]},
            np.random.default_rng(3),
        )
        p = r["publish"]
        p["publish_s"], p["psql_s"] = min(p["seconds"]["publish"]), min(p["seconds"]["psql"])
        label = f"publish one unit on corpus B ({p['rows']:,} rows, best of 3)"
        print(f"  {label:<55} {p['publish_s']:8.3f} s (psql \\copy: {p['psql_s']:.3f} s)", flush=True)
        facts_b = facts_of(conninfo, b)
        t0 = time.perf_counter()
        r["facts_a"] = facts_of(conninfo, a)  # what corpus remove counts at head
        r["count_s"] = time.perf_counter() - t0
        print(f"  {'count of corpus A facts by position range':<55} {r['count_s']:8.3f} s", flush=True)
        if partitioned:  # the other way partitions allow: empty A's partitions with DELETE (rolled back)
            with psycopg.connect(conninfo) as conn:
                t0 = time.perf_counter()
                for table in ("checkpoint_token", "pair_token"):
                    conn.execute(f"DELETE FROM {table}_c{a['corpus_id']}")
                r["delete_partitions_s"] = time.perf_counter() - t0
                conn.rollback()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            print(
                f"  {'DELETE of corpus A partitions rows (rolled back)':<55} {r['delete_partitions_s']:8.3f} s",
                flush=True,
            )
            t0 = time.perf_counter()
            removed = remove_corpus(engine, "corpus-a")
            r["remove_s"] = time.perf_counter() - t0
        else:
            with psycopg.connect(conninfo) as conn:
                t0 = time.perf_counter()
                removed = conn.execute(REMOVE_0010[0], {"c": a["corpus_id"]}).fetchone()[0]
                for statement in REMOVE_0010[1:]:
                    conn.execute(statement, {"c": a["corpus_id"]})
                conn.commit()
                r["remove_s"] = time.perf_counter() - t0
        assert removed == r["facts_a"] == sum(a["rows"]), (removed, r["facts_a"], a["rows"])
        r["facts_b_after"] = facts_of(conninfo, b)
        assert r["facts_b_after"] == facts_b, "corpus B lost facts"
        print(
            f"  {f'corpus remove A ({removed:,} fact rows)':<55} {r['remove_s']:8.3f} s; "
            f"corpus B's {r['facts_b_after']:,} fact rows intact",
            flush=True,
        )
        return r
    finally:
        engine.dispose()
        drop_db(server, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=len(paper.STEPS), help="steps per suite (first N of the 20)")
    parser.add_argument("--server", default=default_server())
    parser.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    steps = paper.STEPS[: args.steps]
    plain = measure(args.server, "0010", steps)
    parted = measure(args.server, "head", steps)
    print("\nratios plain (0010) / partitioned (head), same rows, same process:")
    print(
        f"  {'corpus remove':<55} {plain['remove_s'] / parted['remove_s']:6.1f}x  "
        f"({plain['remove_s']:.2f} s -> {parted['remove_s']:.2f} s)"
    )
    for label in READS:
        print(f"  {'read ' + label:<55} {plain['reads'][label] / parted['reads'][label]:6.2f}x")
    print(f"  {'publish one unit':<55} {plain['publish']['publish_s'] / parted['publish']['publish_s']:6.2f}x")
    print(
        f"  at head, DELETE of A's partitions' rows / corpus remove (DROP): "
        f"{parted['delete_partitions_s'] / parted['remove_s']:.1f}x"
    )
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        out = {
            "remove_speedup": plain["remove_s"] / parted["remove_s"],
            "publish_plain_vs_partitioned": plain["publish"]["publish_s"] / parted["publish"]["publish_s"],
            "read_speedup": {label: plain["reads"][label] / parted["reads"][label] for label in READS},
            "load": [load_before, load_after],
        }
        print(json.dumps(out))


if __name__ == "__main__":
    main()

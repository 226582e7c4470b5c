"""Corpus preparation benchmarks, printed as ratios against baselines run in the same process.

1. Tagging + alignment throughput (words/s) against spaCy's own tagger-only ``nlp.pipe`` over the same chunks:
   ours = tokenise + tag (nlp.pipe + array extraction) + align + build position columns. Goal: < 30% overhead.
2. Position loading (rows/s): our numpy-encoded binary COPY against ``psql \\copy`` of the same rows from a CSV
   file, each into an empty ``position`` table of a scratch database.

Baselines are printed first, each headline as a ratio against its baseline. ``--json``: one JSON object at the end
with the headline ratios as keys (``tagging_overhead``: ours / spaCy alone - 1, a fraction; ``loader_vs_psql``:
rows/s of ours / rows/s of psql), the absolute times and rates, and the load before and after.

Usage: .venv/bin/python -m bench.corpus [--text FILE ...] [--max-chars N] [--repeat K] [--json]
Default text: the bundled *Persuasion*; tokenizer: the Pythia tokenizer of ``tests/data/``.
Needs PostgreSQL at CONVDIV_TEST_SERVER (default postgresql://postgres@127.0.0.1:5432/postgres) and psql.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from convdiv.corpus import frequency as freq
from convdiv.corpus.load import POSITION_COLUMNS, copy_positions
from convdiv.corpus.positions import build_positions
from convdiv.corpus.tagging import (
    BATCH_CHARS,
    MAX_CHARS,
    TagVocab,
    chunk_spans,
    load_tagger,
    mask_spans,
    resolve_model,
    tag_documents,
)
from convdiv.corpus.tokens import load_tokenizer, tokenize_documents
from convdiv.data import austen
from convdiv.testing import data as fixture_data
from convdiv.testing.databases import create_database, drop_database
from convdiv.warehouse import schema
from convdiv.warehouse.engine import psql_command

TEST_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def best(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def bench_tagging(texts, tokenizer, nlp, repeat):
    pieces = [t[s:e] for t in texts for s, e in chunk_spans(t, MAX_CHARS)]
    batch_size = int(min(256, max(1, BATCH_CHARS // max(1, sum(map(len, pieces)) // len(pieces)))))  # as tag_documents

    def baseline():
        n = 0
        for doc in nlp.pipe(pieces, batch_size=batch_size):
            n += len(doc)  # consume only: the baseline does no per-token Python work
        return n

    parts: dict[str, list[float]] = {"tokenise": [], "tag": [], "align+columns": []}

    def ours():
        t0 = time.perf_counter()
        docs = tokenize_documents(tokenizer, texts, bos=True, eos=True)
        vocab = TagVocab()
        masked = [
            mask_spans(t, d.offsets[d.special & (d.offsets[:, 1] > d.offsets[:, 0])].tolist())
            for t, d in zip(texts, docs)
        ]
        t1 = time.perf_counter()
        words = tag_documents(nlp, masked, vocab)
        t2 = time.perf_counter()
        counts = freq.count_tokens((d.ids for d in docs), len(tokenizer))
        table = build_positions(texts, docs, words, vocab, counts)
        t3 = time.perf_counter()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[key].append(dt)
        return table, sum(len(w.starts) for w in words)

    # alternate, best of `repeat`, so a busy neighbour on the shared CPUs hurts both alike
    t_base, t_ours = [], []
    n_words = table = None
    for _ in range(repeat):
        t, _ = best(baseline, 1)
        t_base.append(t)
        t, (table, n_words) = best(ours, 1)
        t_ours.append(t)
    tb, to = min(t_base), min(t_ours)
    print(f"tagging: {n_words:,} words (non-space spaCy tokens), {len(table):,} positions, best of {repeat}")
    print(f"  spaCy tagger-only nlp.pipe : {tb:7.2f} s  {n_words / tb:10,.0f} words/s")
    print(f"  ours (tokenise+tag+align)  : {to:7.2f} s  {n_words / to:10,.0f} words/s")
    print(f"  ratio ours/baseline time   : {to / tb:.3f}  (tokenisation + alignment add {100 * (to / tb - 1):.1f}%)")
    for key, times in parts.items():
        print(f"    of which {key:<14}: {min(times):7.2f} s  ({100 * min(times) / tb:.1f}% of the baseline)")
    figures = {
        "tagging_overhead": to / tb - 1,
        "words": n_words,
        "spacy_s": tb,
        "ours_s": to,
        "parts_s": {key: min(times) for key, times in parts.items()},
    }
    return table, figures


def bench_copy(table, repeat):
    url = create_database("convdiv_bench")
    engine = sa.create_engine(url)
    try:
        schema.upgrade(engine)
        with engine.begin() as conn:
            corpus_id = conn.execute(
                sa.text(
                    "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents, "
                    "n_positions, frequency_source, options) VALUES ('bench', 't', 'x', 1, 'x', 1, 1, 'self', '{}') "
                    "RETURNING corpus_id"
                )
            ).scalar_one()
        n = len(table)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "positions.csv"
            decoded = {
                c: table.decoded(c) for c in ("pos_t", "pos_prev", "upos_t", "upos_prev", "group_t", "group_prev")
            }
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                for i in range(n):
                    w.writerow(
                        [
                            corpus_id,
                            table.document[i],
                            table.idx[i],
                            table.context_token_id[i],
                            table.target_token_id[i],
                            *(("" if decoded[c][i] is None else decoded[c][i]) for c in decoded),
                            "t" if table.begin_of_word[i] else "f",
                            "t" if table.end_of_word[i] else "f",
                            table.frequency[i],
                            "" if table.word[i] < 0 else table.word[i],
                        ]
                    )
            argv, env = psql_command(engine.url)
            cmd = [
                *argv,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                f"\\copy position ({', '.join(POSITION_COLUMNS)}) FROM '{path}' WITH (FORMAT csv)",
            ]

            def truncate():
                with engine.begin() as conn:
                    conn.execute(sa.text("TRUNCATE position CASCADE"))

            def ours():
                with engine.begin() as conn:
                    return copy_positions(conn, corpus_id, table)

            def psql():
                subprocess.run(cmd, check=True, env={**os.environ, **env})

            t_ours, t_psql = [], []
            for _ in range(repeat):
                truncate()
                t, loaded = best(ours, 1)
                assert loaded == n
                t_ours.append(t)
                truncate()
                t_psql.append(best(psql, 1)[0])
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM position")).scalar_one() == n
        to, tp = min(t_ours), min(t_psql)
        print(f"loading: {n:,} position rows")
        print(f"  psql \\copy (CSV file)      : {tp:7.2f} s  {n / tp:10,.0f} rows/s")
        print(f"  ours (psycopg binary COPY) : {to:7.2f} s  {n / to:10,.0f} rows/s  (encode included)")
        print(f"  ratio ours/psql rows/s     : {tp / to:.3f}")
        return {"loader_vs_psql": tp / to, "rows": n, "psql_s": tp, "loader_s": to}
    finally:
        engine.dispose()
        drop_database(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--text", nargs="*", default=[], help="text files (default: the bundled Persuasion)")
    ap.add_argument("--max-chars", type=int, default=0, help="use only the first N characters of each file")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    texts = [Path(p).read_text(encoding="utf-8") for p in args.text] or [austen.raw_text("persuasion")]
    if args.max_chars:
        texts = [t[: args.max_chars] for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = load_tokenizer(str(fixture_data.unpack(TEST_DATA, "pythia-tokenizer", Path(tmp))))
    nlp = load_tagger(resolve_model(None)[0])
    names = [Path(p).name for p in args.text] or ["persuasion (bundled)"]
    print(f"texts: {', '.join(names)} ({sum(map(len, texts)):,} characters)")
    table, tagging = bench_tagging(texts, tokenizer, nlp, args.repeat)
    loading = bench_copy(table, args.repeat)
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        print(json.dumps({**tagging, **loading, "load": [load_before, load_after]}))


if __name__ == "__main__":
    main()

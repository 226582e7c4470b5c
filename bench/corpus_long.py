"""`corpus add` of one long single-line text: peak memory and time per MB, against spaCy alone in the same process.

For each size (default 0.5, 1 and 2 MB) a fresh child process builds a single line of that many bytes (the
bundled Austen novels, newlines turned into spaces, repeated), loads the tokenizer and the spaCy tagger (its
"setup" memory), then runs ``add_corpus`` into a scratch database (tokenise, tag, align, COPY) and reports
its peak RSS (``ru_maxrss``) and wall time; after that, the baseline in the same child: spaCy's own tagger-only
``nlp.pipe`` over the same text in the same 10,000-character pieces, which is the floor of any tagging.

Goals (issue 11, item 9): memory flat in the text's size (peak - setup about constant; < 1 GB peak for 5 MB),
time linear in it (s/MB about constant, a steady ratio to spaCy alone).

Printed per size, the baseline first: spaCy alone (s), then ``add_corpus`` (s: tokenise + tag + align + COPY, the
scratch database's creation not included), s/MB, the headline ratio add / spaCy, then memory. ``--json``: one JSON
object at the end: ``add_vs_spacy`` and ``peak_minus_setup_mb`` (lists, one per size, in the order of ``--sizes``),
each size's figures under ``sizes``, and the load before and after.

Usage: .venv/bin/python -m bench.corpus_long [--sizes 0.5,1,2] [--tokenizer DIR] [--json]
Default tokenizer: the Pythia tokenizer of ``tests/data/``.
Needs PostgreSQL at CONVDIV_TEST_SERVER (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def one_line(n_bytes: int) -> str:
    from convdiv.data import austen

    books = " ".join(austen.raw_text(novel) for novel in austen.NOVELS)
    line = " ".join(books.split())  # one line, single spaces
    while len(line.encode("utf-8")) < n_bytes:
        line = line + " " + line
    return line.encode("utf-8")[:n_bytes].decode("utf-8", errors="ignore")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(mb: float, tokenizer: str) -> dict:
    import sqlalchemy as sa

    from convdiv.corpus.load import add_corpus
    from convdiv.corpus.tagging import BATCH_CHARS, FALLBACK_MODEL, MAX_CHARS, chunk_spans, load_tagger
    from convdiv.corpus.tokens import load_tokenizer
    from convdiv.testing.databases import create_database, drop_database
    from convdiv.warehouse import schema

    text = one_line(int(mb * 1e6))
    load_tokenizer(tokenizer)
    nlp = load_tagger(FALLBACK_MODEL)
    url = create_database("convdiv_bench_long")
    engine = sa.create_engine(url)
    try:
        schema.upgrade(engine)
        # warm-up on a tiny corpus: imports, tagger and database paths, so that "setup" holds all of them
        add_corpus(engine, "warm", tokenizer=tokenizer, documents=[text[:2000]], spacy_model=FALLBACK_MODEL)
        setup = peak_mb()
        t0 = time.perf_counter()
        info = add_corpus(engine, "long", tokenizer=tokenizer, documents=[text], spacy_model=FALLBACK_MODEL)
        seconds = time.perf_counter() - t0
        peak = peak_mb()
    finally:
        engine.dispose()
        drop_database(url)
    pieces = [text[a:b] for a, b in chunk_spans(text, MAX_CHARS)]
    t0 = time.perf_counter()
    for _ in nlp.pipe(pieces, batch_size=max(1, BATCH_CHARS // MAX_CHARS)):
        pass
    spacy_s = time.perf_counter() - t0
    return {
        "mb": mb,
        "positions": info.n_positions,
        "seconds": seconds,
        "spacy_s": spacy_s,
        "setup_mb": setup,
        "peak_mb": peak,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0.5,1,2", help="text sizes in MB (one child process each)")
    ap.add_argument("--tokenizer", help="tokenizer folder (default: the Pythia tokenizer of tests/data/)")
    ap.add_argument("--json", action="store_true", help="print the ratios as one JSON object at the end")
    ap.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.tokenizer)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.tokenizer is None:
            from convdiv.testing import data as fixture_data

            args.tokenizer = str(fixture_data.unpack(TEST_DATA, "pythia-tokenizer", Path(tmp)))
        run(args)


def run(args) -> None:
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    print(f"# corpus add, one single-line text; tokenizer {args.tokenizer}")
    print(
        f"{'MB':>5} {'positions':>10} {'spaCy s':>8} {'add s':>8} {'add s/MB':>8} {'add/spaCy':>9} "
        f"{'setup MB':>9} {'peak MB':>8} {'peak-setup':>10}"
    )
    results = []
    for mb in [float(x) for x in args.sizes.split(",")]:
        out = subprocess.run(
            [sys.executable, "-m", "bench.corpus_long", "--child", str(mb), "--tokenizer", args.tokenizer],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{mb:5.1f} {r['positions']:10,d} {r['spacy_s']:8.1f} {r['seconds']:8.1f} {r['seconds'] / mb:8.1f} "
            f"{r['seconds'] / r['spacy_s']:9.2f} {r['setup_mb']:9.0f} {r['peak_mb']:8.0f} "
            f"{r['peak_mb'] - r['setup_mb']:10.0f}",
            flush=True,
        )
    load_after = os.getloadavg()
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    if args.json:
        figures = {
            "add_vs_spacy": [r["seconds"] / r["spacy_s"] for r in results],
            "peak_minus_setup_mb": [r["peak_mb"] - r["setup_mb"] for r in results],
            "sizes": results,
            "load": [load_before, load_after],
        }
        print(json.dumps(figures))


if __name__ == "__main__":
    main()

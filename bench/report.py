"""Benchmark: build the report on a paper-scale warehouse and print the time per section.

Paper scale = the study's grid: 5 sizes x 20 steps x 5 seeds on the 4,662 positions of its evaluation text. Two
builders, both loading by COPY into a fresh database:

- ``views`` (default): the SQL issue's warehouse, ``bench/views.py``'s build (``convdiv.testing.paper``): seed
  pairs only (2.33M checkpoint_token + 4.66M pair_token rows);
- ``synthetic``: ``convdiv.testing.synthetic`` (the report tests' builder): seed pairs and consecutive steps (2.33M +
  6.88M rows), with ledger rows, so every section (learnability heatmap, CE fits over consecutive steps) has data.

Goal: the report in under 30 s on 2 cores. Keep the warehouse (``--keep``) so that reruns time only the report.
The bootstrap over seeds of the regression coefficients scans the seed-pair facts once more and is off by default
above 1M rows (paper scale: 2.33M); ``--regression-bootstrap`` times the report with it.

    .venv/bin/python -m bench.report [--builder views|synthetic]   # build a fresh warehouse, report, drop it
    .venv/bin/python -m bench.report --keep                        # ... and keep it; prints its URL
    .venv/bin/python -m bench.report --url URL                     # report on an existing warehouse
    .venv/bin/python -m bench.report --url URL --json              # ... and the figures as one JSON object

The baseline is the goal (30 s), printed first; each section's seconds are build_report's own timings (its SQL
reads, the figures' Python and the HTML written; the warehouse's build and the screenshot not included), then the
headline total / goal. ``--json``: one JSON object at the end: ``ratio_to_goal`` (the headline), ``total_s``,
``sections_s``, the warehouse's build seconds (null with ``--url``), its rows, and the load before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench import views
from bench.common import create_db, default_server, drop_db, urls
from convdiv.report.build import build_report
from convdiv.report.data import Options
from convdiv.testing.synthetic import PAPER_SEEDS, PAPER_SIZES, PAPER_STEPS, build_synthetic_warehouse
from convdiv.warehouse import aggregates, schema

ROOT = Path(__file__).resolve().parents[1]

GOAL_S = 30.0
SERVER = default_server("CONVDIV_TEST_SERVER")


def fresh_database() -> str:
    url, _ = urls(SERVER, create_db(SERVER, "convdiv_bench_report"))
    return url.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    drop_db(SERVER, str(make_url(url).database))


def screenshot(html: Path, png: Path) -> str:
    if not Path("/usr/bin/chromium").exists():
        return "no /usr/bin/chromium: no screenshot"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        t = time.perf_counter()
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('div.figure')).every(d => d.querySelector('.main-svg'))",
            timeout=120_000,
        )
        shown = time.perf_counter() - t
        page.screenshot(path=str(png), full_page=True)
        browser.close()
    return f"{png} (page rendered in {shown:.1f} s, console errors: {len(errors)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="report on this existing warehouse instead of building one")
    ap.add_argument("--keep", action="store_true", help="keep the built warehouse")
    ap.add_argument("--positions", type=int, default=4662, help="positions (synthetic builder)")
    ap.add_argument("--builder", choices=("views", "synthetic"), default="views")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "bench-report.html"))
    ap.add_argument("--regression-bootstrap", action="store_true", help="bootstrap the regression coefficients too")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object at the end")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(f"cores: {os.cpu_count()} (shared); load average {load_before[0]:.1f}")
    print(f"baseline: the goal, the report in under {GOAL_S:.0f} s on 2 cores")
    built_s, rows = None, None

    url = args.url or fresh_database()
    engine = sa.create_engine(url)
    try:
        if not args.url:
            schema.upgrade(engine)
            t = time.perf_counter()
            if args.builder == "views":  # bench/views.py's build: the SQL issue's paper-scale warehouse
                conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
                built = views.build(conninfo, 1, np.random.default_rng(1))
                aggregates.rebuild(engine)
                rows = (built["rows checkpoint_token"], built["rows pair_token"])
            else:
                info = build_synthetic_warehouse(
                    engine,
                    suite="paper",
                    corpus="pile-4662",
                    sizes=PAPER_SIZES,
                    seeds=PAPER_SEEDS,
                    steps=PAPER_STEPS,
                    n_positions=args.positions,
                    n_documents=1,
                    vocab_size=5000,
                )
                rows = (info.checkpoint_token_rows, info.pair_token_rows)
            built_s = time.perf_counter() - t
            print(
                f"warehouse ({args.builder}): {rows[0]:,} checkpoint_token + {rows[1]:,} pair_token rows loaded "
                f"and aggregates rebuilt in {built_s:.1f} s"
            )
        out = Path(args.out)
        options = Options(regression_bootstrap=True) if args.regression_bootstrap else None
        result = build_report(engine, out, options=options)
        print(f"report: {out} ({out.stat().st_size / 1e6:.1f} MB); build_report's timings (SQL + figures + HTML):")
        for key, seconds in result.timings.items():
            print(f"  {key:>12}: {seconds:7.2f} s")
        total = result.timings["total"]
        print(
            f"total {total:.2f} s (goal < {GOAL_S:.0f} s: {'met' if total < GOAL_S else 'NOT met'}); "
            f"ratio to goal {total / GOAL_S:.2f}"
        )
        if result.errors:
            print("section errors:", result.errors)
        print("screenshot (not timed above):", screenshot(out, out.with_suffix(".png")))
        load_after = os.getloadavg()
        print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}")
        if args.json:
            figures = {
                "ratio_to_goal": total / GOAL_S,
                "total_s": total,
                "sections_s": dict(result.timings),
                "section_errors": result.errors or None,
                "warehouse_build_s": built_s,
                "warehouse_rows": rows,
                "load": [load_before, load_after],
            }
            print(json.dumps(figures, default=str))
    finally:
        engine.dispose()
        if args.keep and not args.url:
            print(f"kept warehouse: {url}")
        elif not args.url:
            drop_database(url)


if __name__ == "__main__":
    main()

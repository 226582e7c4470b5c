"""The main job end to end: `convdiv demo --quick` trains, loads its corpus, ingests and writes a report whose
every section has real data and renders in headless Chromium without errors or requests outside the file; its
warehouse shows the study's phases for every size (phase_boundaries, seed pairs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from convdiv.analysis.phases import PHASE_NAMES, PRESENTATION_PHASE_NAMES, paper_spans, presentation_spans
from convdiv.report.account import account, read_block, same_account
from convdiv.testing.browser import open_report

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SECTIONS = ["overview", "convergence", "reference", "pos", "frequency", "word", "ce-fit", "regression", "tokens"]


def test_quick_demo_end_to_end_in_chromium(db_url, tmp_path, chromium, artifacts):
    out = tmp_path / "demo.html"
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "convdiv", "demo", "--quick", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == f"report: {out}"
    # issue 20's "Keep": the demo report stays under 7 MB (one self-contained file, plotly included)
    assert out.stat().st_size < 7_000_000, out.stat().st_size

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        n_checkpoints = conn.execute(sa.text("SELECT count(*) FROM checkpoint")).scalar_one()
        n_positions = conn.execute(sa.text("SELECT count(*) FROM position")).scalar_one()
        n_facts = conn.execute(sa.text("SELECT count(*) FROM checkpoint_token")).scalar_one()
        curves = conn.execute(
            sa.text("SELECT size, step, mean_kl FROM expected_kl WHERE kind = 'seed_pair' ORDER BY size, step")
        ).all()
        phases = conn.execute(sa.text("SELECT * FROM phase_boundaries WHERE kind = 'seed_pair'")).mappings().all()
    # the README's account of what the quick demo shows is what this run computes (scripts/readme_account.py)
    readme = read_block((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8"))
    computed = account(engine, suite="demo-quick")
    engine.dispose()
    assert same_account(readme, computed), f"README.md's demo account is stale (scripts/readme_account.py):\n{computed}"
    assert n_facts == n_checkpoints * n_positions > 0
    # Initialised as Pythia is (small init), the seeds disagree at step 0: E[KL] near 2/5 nat (logits of standard
    # deviation sqrt(2/5)), not ~0 as with transformers' default init.
    first = {r.size: r.mean_kl for r in curves if r.step == 0}
    assert len(first) == 2 and all(0.2 < kl < 0.8 for kl in first.values()), first
    # The study's phases, every size: a convergence minimum, a divergence peak, a reconvergence start, and the
    # paper's and the presentation's four spans all non-empty.
    assert sorted(r["size"] for r in phases) == sorted(first)
    for row in phases:
        boundaries = {k: row[k] for k in ("convergence_min_step", "divergence_peak_step", "reconvergence_start_step")}
        assert None not in boundaries.values(), (row["size"], boundaries)
        assert row["uniform_end_step"] < row["convergence_min_step"] < row["divergence_peak_step"] < row["last_step"]
        assert [name for name, _, _ in paper_spans(row)] == list(PHASE_NAMES), dict(row)
        assert [name for name, _, _ in presentation_spans(row)] == list(PRESENTATION_PHASE_NAMES), dict(row)

    def check(page, errors, requests):
        for section in SECTIONS:
            sec = page.locator(f"section#{section}")
            assert sec.count() == 1, section
            assert sec.locator("div.figure .main-svg").count() >= 1, f"{section}: no rendered figure"
            assert sec.locator(".error-box").count() == 0, f"{section}: {sec.locator('.error-box').all_inner_texts()}"
            assert sec.locator(".missing-box").count() == 0, (
                f"{section}: {sec.locator('.missing-box').all_inner_texts()}"
            )
        assert errors == []
        assert [r for r in requests if not r.startswith("file://")] == []
        page.screenshot(path=str(artifacts / "demo-quick-report-test.png"), full_page=True)

    open_report(out, chromium, check)

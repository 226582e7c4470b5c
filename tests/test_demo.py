"""The main job end to end: `convdiv demo --quick` trains, loads its corpus, ingests and writes a report whose
every section has real data and renders in headless Chromium without errors or requests outside the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

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

    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        n_checkpoints = conn.execute(sa.text("SELECT count(*) FROM checkpoint")).scalar_one()
        n_positions = conn.execute(sa.text("SELECT count(*) FROM position")).scalar_one()
        n_facts = conn.execute(sa.text("SELECT count(*) FROM checkpoint_token")).scalar_one()
        curve = conn.execute(
            sa.text("SELECT step, mean_kl FROM expected_kl WHERE kind = 'seed_pair' AND size_rank = 0 ORDER BY step")
        ).all()
    # the README's account of what the quick demo shows is what this run computes (scripts/readme_account.py)
    readme = read_block((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8"))
    computed = account(engine, suite="demo-quick")
    engine.dispose()
    assert same_account(readme, computed), f"README.md's demo account is stale (scripts/readme_account.py):\n{computed}"
    assert n_facts == n_checkpoints * n_positions > 0
    assert curve[0].mean_kl < 0.1 * max(r.mean_kl for r in curve)  # seeds agree at initialisation only

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

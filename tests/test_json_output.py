"""Every `--json` output parses as one JSON document on stdout (progress and notes stay on stderr) and says what
the warehouse holds: corpus list, db status, suite show, the ingest summary, report and export."""

from __future__ import annotations

import json

import psycopg
import pytest

from convdiv.testing import ingest as S
from convdiv.testing.cli import run_cli

pytestmark = pytest.mark.slow


def _json(args, url, **kw):
    proc = run_cli([*args, "--json"], url, **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc


def _count(url: str, table: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_corpus_list_json(small_warehouse):
    got, _ = _json(["corpus", "list"], small_warehouse[0])
    assert [c["name"] for c in got] == [S.CORPUS]
    assert got[0]["n_positions"] == _count(small_warehouse[0], "position") and "T" in got[0]["created_at"]


def test_db_status_json(small_warehouse):
    got, _ = _json(["db", "status"], small_warehouse[0])
    assert got["up_to_date"] is True and got["current"] == got["head"]
    assert got["row_counts"]["checkpoint_token"] == _count(small_warehouse[0], "checkpoint_token") > 0
    assert got["url"].startswith("postgresql+psycopg://") and got["server_version"]


def test_suite_show_json(small_warehouse):
    got, _ = _json(["suite", "show", str(small_warehouse[1])], small_warehouse[0])
    assert got["checkpoints"] == len(S.SIZES) * len(S.SEEDS) * len(S.STEPS)


def test_ingest_summary_json_and_progress_from_the_ledger(small_warehouse, tmp_path):
    """A re-run skips every unit: the JSON says so unit by unit; in a log the ledger-based progress lines show."""
    got, proc = _json(
        ["--progress-every", "0.2", "ingest", str(small_warehouse[1]), "--corpus", S.CORPUS],
        small_warehouse[0],
        data_dir=tmp_path / "data",
    )
    assert got["suite"] == small_warehouse[1].name and got["corpus"] == S.CORPUS
    assert got["units_total"] == got["units_skipped"] == len(got["units"]) > 0 and got["units_done"] == 0
    assert {u["status"] for u in got["units"]} == {"skipped"}
    assert f"ingest on {S.CORPUS}: started" in proc.stderr and f"ingest on {S.CORPUS}: done 0 units" in proc.stderr


def test_report_json(small_warehouse, tmp_path):
    out = tmp_path / "r.html"
    got, proc = _json(["report", "--out", str(out)], small_warehouse[0])
    assert got["path"] == str(out.resolve()) and out.exists()
    assert got["suite"] == small_warehouse[1].name and got["corpus"] == S.CORPUS
    keys = [s["key"] for s in got["sections"]]
    assert "convergence" in keys and len(keys) == len(set(keys)) >= 5
    assert all(s["status"] in ("ok", "missing", "error") and s["seconds"] >= 0 for s in got["sections"])
    assert [s for s in got["sections"] if s["key"] == "convergence"][0]["status"] == "ok"
    assert got["timings"]["total"] >= got["timings"]["render"] > 0
    # sections show progress on stderr when it is a log
    assert "report: sections: started" in proc.stderr and "report: sections: done" in proc.stderr


def test_export_json(small_warehouse, tmp_path):
    got, _ = _json(["export", str(tmp_path / "x")], small_warehouse[0])
    assert got["format"] == "parquet" and got["suites"] == [small_warehouse[1].name] and got["corpora"] == [S.CORPUS]
    assert got["datasets"]["pair_token"]["rows"] == _count(small_warehouse[0], "pair_token")
    assert (
        json.loads((tmp_path / "x" / "_convdiv_export.json").read_text())["datasets"].keys() == got["datasets"].keys()
    )

"""The Python API (`convdiv.connect`) on a small real warehouse: every documented view with its documented columns,
filters pushed into SQL, suites/corpora, lifecycle; the embedded server held exactly for the object's life; and the
example script of examples/ run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

import convdiv
from convdiv.api import DOCUMENTED_VIEWS
from convdiv.errors import ConvdivError
from convdiv.testing import ingest as S
from convdiv.testing.cli import run_cli
from convdiv.testing.docs import documented_views

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = documented_views(ROOT / "docs" / "sql.md")


@pytest.fixture(scope="module")
def wh(small_warehouse):
    with convdiv.connect(small_warehouse[0]) as warehouse:
        yield warehouse


def test_the_api_lists_exactly_the_documented_views():
    assert list(DOCUMENTED_VIEWS) == list(DOCUMENTED)


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_every_documented_view_returns_its_documented_columns(wh, name):
    frame = wh.view(name, limit=50)
    assert isinstance(frame, pd.DataFrame)
    # the same columns (docs/sql.md lists a few in another order than the view's, e.g. relative_divergence)
    assert sorted(frame.columns) == sorted(DOCUMENTED[name]) and len(frame.columns) == len(DOCUMENTED[name])
    assert len(frame) > 0, f"{name} is empty on a warehouse with ingested data"


def test_filters_are_equalities_any_of_and_null(wh, small_warehouse):
    suite = small_warehouse[1].name  # a local suite is named after its folder
    everything = wh.view("expected_kl")
    curve = wh.view("expected_kl", suite=suite, kind="seed_pair", size="xs")
    assert sorted(curve["step"]) == list(S.STEPS)
    assert (curve["n_comparisons"] == 3).all() and set(curve["kind"]) == {"seed_pair"}
    two = wh.view("expected_kl", kind="seed_pair", step=[0, 16], columns=["size", "step", "mean_kl"])
    assert list(two.columns) == ["size", "step", "mean_kl"]
    assert sorted(set(two["step"])) == [0, 16] and len(two) == 2 * len(S.SIZES)
    # the same rows as the SQL an analyst would write, numbers included
    by_sql = wh.query(
        "SELECT size, step, mean_kl FROM expected_kl WHERE kind = :kind AND step IN (0, 16)", kind="seed_pair"
    )
    key = ["size", "step"]
    pd.testing.assert_frame_equal(
        two.sort_values(key).reset_index(drop=True), by_sql.sort_values(key).reset_index(drop=True)
    )
    # None is IS NULL: positions without a POS tag (whitespace between the passages' paragraphs)
    untagged = wh.view("token_records", pos_t=None, columns=["position_id", "pos_t"])
    n_untagged = wh.query("SELECT count(*) AS n FROM token_records WHERE pos_t IS NULL")["n"].iloc[0]
    assert 0 < len(untagged) == n_untagged and untagged["pos_t"].isna().all()
    assert len(everything) == len(S.SIZES) * len(S.STEPS) + len(S.SIZES) * (len(S.STEPS) - 1)
    # numpy values taken from a DataFrame work as filter values
    first = curve.iloc[0]
    assert len(wh.view("expected_kl", suite_id=first["suite_id"], step=first["step"], kind="seed_pair", size="xs")) == 1


def test_suites_and_corpora(wh, small_warehouse):
    suites = wh.suites()
    assert list(suites["suite"]) == [small_warehouse[1].name]
    row = suites.iloc[0]
    assert list(row["sizes"]) == list(S.SIZES) and list(row["seeds"]) == list(S.SEEDS)
    assert list(row["steps"]) == list(S.STEPS) and row["n_checkpoints"] == 24
    assert list(row["corpora"]) == [S.CORPUS]
    corpora = wh.corpora()
    assert list(corpora["name"]) == [S.CORPUS] and corpora.iloc[0]["n_positions"] > 0


def test_mistakes_are_one_line_errors_naming_the_fix(wh):
    with pytest.raises(ConvdivError, match="no view or table named 'expected_kll'.*documented views: token_records"):
        wh.view("expected_kll")
    with pytest.raises(ConvdivError, match="view expected_kl has no column 'stepp'; its columns: suite,"):
        wh.view("expected_kl", stepp=3)
    with pytest.raises(ConvdivError, match="query failed: .*no_such_table"):
        wh.query("SELECT * FROM no_such_table")
    with pytest.raises(ConvdivError, match="limit must be a non-negative integer"):
        wh.view("expected_kl", limit=-1)


def test_context_manager_closes(small_warehouse):
    with convdiv.connect(small_warehouse[0]) as warehouse:
        assert not warehouse.closed and warehouse.url.startswith("postgresql://")
    assert warehouse.closed
    with pytest.raises(ConvdivError, match="closed"):
        warehouse.view("expected_kl")


def test_a_stale_or_unreachable_warehouse_is_refused_in_one_line(empty_db_url):
    with pytest.raises(ConvdivError, match="no convdiv schema yet; run `convdiv db upgrade`"):
        convdiv.connect(empty_db_url)
    with pytest.raises(ConvdivError, match="cannot connect to PostgreSQL at 127.0.0.1:1"):
        convdiv.connect("postgresql://postgres@127.0.0.1:1/x")


def _postmasters(pgdata: Path) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(attrs=["name", "cmdline"])
        if p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
    ]


def _wait(condition, timeout: float = 30) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_embedded_server_is_held_for_the_objects_life(tmp_path_factory, monkeypatch):
    data_dir = tmp_path_factory.mktemp("embedded-api") / "data"
    up = run_cli(["db", "upgrade"], None, data_dir=data_dir)
    assert up.returncode == 0, up.stderr
    pgdata = data_dir / "pgdata"
    assert _wait(lambda: not _postmasters(pgdata))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CONVDIV_TEST_SERVER", raising=False)
    try:
        for _ in range(2):  # a second connect after a close starts the server again and holds it again
            with convdiv.connect(data_dir=data_dir) as warehouse:
                assert _postmasters(pgdata)
                assert warehouse.url == f"postgresql://postgres@/convdiv?host={pgdata}"
                # another process using the URL while the object holds the server
                got = subprocess.run(
                    ["psql", warehouse.url, "-At", "-c", "SELECT count(*) FROM suite"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert got.returncode == 0 and got.stdout.strip() == "0", got.stderr
                assert warehouse.suites().empty
            assert _wait(lambda: not _postmasters(pgdata)), "the server outlived the closed warehouse"
    finally:
        for proc in _postmasters(pgdata):
            proc.kill()


def test_the_example_script_runs(small_warehouse):
    """examples/expected_kl.py as a user runs it: prints the suites and the convergence curve it read."""
    env = {**os.environ, "DATABASE_URL": small_warehouse[0]}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "expected_kl.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert f"suite {small_warehouse[1].name}: sizes xs, s; seeds 1, 2, 3; 4 steps; corpora {S.CORPUS}" in lines
    curve = [line for line in lines if line.startswith("xs ")]
    assert [int(line.split()[1]) for line in curve] == list(S.STEPS)

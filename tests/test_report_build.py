"""`build_report` on real PostgreSQL warehouses: synthetic facts in the real schema, empty and partial ones.

The numbers shown are checked against independent reads of the views (and of the row-level regression inputs),
not against the report's own code paths.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from convdiv.analysis.regression import fit_rows
from convdiv.errors import ConvdivError
from convdiv.report.build import build_report
from convdiv.report.synthetic import build_synthetic_warehouse

ALL_SECTIONS = ["overview", "convergence", "reference", "pos", "frequency", "word", "ce-fit", "regression", "tokens"]


def conninfo(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def read(db_url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg.connect(conninfo(db_url)) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def embedded_csvs(html: str) -> dict[str, pd.DataFrame]:
    m = re.search(r"const CONVDIV_CSV = (\{.*?\});\n", html, re.S)
    assert m, "CSV payload missing"
    return {k: pd.read_csv(io.StringIO(v["text"])) for k, v in json.loads(m.group(1)).items()}


def figure_specs(html: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="fig-(.*?)-spec">(.*?)</script>', html, re.S)
    return {key: json.loads(text) for key, text in found}


@pytest.fixture
def synthetic(engine):
    return build_synthetic_warehouse(engine, missing=[("70m", 3, 1000)], duplicate_weights=("14m", 2, 4, 16))


def test_full_report_on_synthetic_warehouse(engine, db_url, synthetic, tmp_path):
    out = tmp_path / "r" / "report.html"
    result = build_report(engine, out)
    assert result.path == out and out.exists()
    assert result.errors == {}
    assert [s.key for s in result.sections] == ALL_SECTIONS
    for s in result.sections:
        assert s.missing is None, (s.key, s.missing)
        assert s.figures, s.key
        assert s.guide and len(s.guide) > 200, s.key
    assert set(result.timings) >= set(ALL_SECTIONS) | {"render", "total"}

    html = out.read_text(encoding="utf-8")
    # plotly.js inlined exactly once; no external resource anywhere.
    assert html.count(get_plotlyjs()[:400]) == 1
    assert len(html) > 4_000_000
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html)
    specs = figure_specs(html)
    assert set(specs) == {f.key for s in result.sections for f in s.figures}
    assert all(spec["data"] for spec in specs.values())

    # Warnings name the missing checkpoint and the duplicated weights.
    text = " ".join(result.warnings)
    assert "70m/seed3/step1000" in text
    assert "14m seed 2 has identical weights at steps 4, 16" in text

    # The convergence CSV is the expected_kl view (independent read), one row per size and step.
    csvs = embedded_csvs(html)
    view = read(db_url, "SELECT size, step, mean_kl FROM expected_kl WHERE kind = 'seed_pair' ORDER BY size, step")
    got = csvs["convergence-curve"].sort_values(["size", "step"]).reset_index(drop=True)
    assert list(got["step"]) == list(view["step"]) and list(got["size"]) == list(view["size"])
    np.testing.assert_allclose(got["mean_kl"], view["mean_kl"].astype(float), rtol=1e-9)
    np.testing.assert_allclose(got["convergence"], -got["mean_kl"])
    # Every figure and table has a CSV.
    assert set(csvs) == {f.key for s in result.sections for f in s.figures} | {
        t.key for s in result.sections for t in s.tables}


def test_phases_regression_and_fits_match_independent_computations(engine, db_url, synthetic, tmp_path):
    result = build_report(engine, tmp_path / "report.html")
    sections = {s.key: s for s in result.sections}

    # Phases: the synthetic E[KL] has its bump at 16 and its valley at 256 by construction.
    phases = sections["convergence"].tables[0].frame.set_index("size")
    assert list(phases["uniform_end_step"]) == [16, 16]
    assert list(phases["convergence_min_step"]) == [256, 256]

    # Regression at the last step: the report's fit (SQL-aggregated cells) equals a fit on the raw rows.
    rows = read(db_url, "SELECT kl, log_frequency, pos_t, pos_prev, size FROM regression_inputs "
                        "WHERE kind = 'seed_pair' AND step = 4000 AND log_frequency IS NOT NULL")
    rows["kl"] = rows["kl"].astype(float)
    rows["log_frequency"] = rows["log_frequency"].astype(float)
    direct = fit_rows(rows, size_order=["14m", "70m"])
    table = sections["regression"].tables[1]
    shown = table.choices["step 4000"].set_index("term")
    expected = direct.coefficients.set_index("term")
    assert set(shown.index) == set(expected.index)
    np.testing.assert_allclose(shown.loc[expected.index, "estimate"], expected["estimate"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(shown.loc[expected.index, "se"], expected["se"], rtol=1e-6)
    summary = sections["regression"].tables[0].frame.set_index("step")
    assert summary.loc[4000, "n"] == len(rows)
    assert summary.loc[4000, "r2"] == pytest.approx(direct.r2, rel=1e-6)

    # CE fit for DT on dH equals numpy.polyfit on the ce_difference rows of the pooled kinds.
    ce = read(db_url, "SELECT delta_h, mean_kl FROM ce_difference WHERE family = 'pos_t' AND category = 'DT' "
                      "AND kind = 'consecutive_step'")
    slope, intercept = np.polyfit(ce["delta_h"].astype(float), ce["mean_kl"].astype(float), 1)
    fits = sections["ce-fit"].tables[0].frame
    dt = fits[(fits["category"] == "DT") & (fits["Q"] == "dH")].iloc[0]
    assert dt["alpha"] == pytest.approx(slope, rel=1e-6)
    assert dt["b"] == pytest.approx(intercept, rel=1e-6)
    assert dt["n"] == len(ce)
    assert list(fits[fits["Q"] == "dH"]["alpha"].dropna()) == sorted(fits[fits["Q"] == "dH"]["alpha"].dropna())


def test_empty_warehouse_says_what_is_missing(engine, tmp_path):
    result = build_report(engine, tmp_path / "empty.html")
    assert result.errors == {}
    assert all(s.missing for s in result.sections)
    html = (tmp_path / "empty.html").read_text(encoding="utf-8")
    assert "the warehouse holds no suite" in html and "Not shown" in html
    assert html.count(get_plotlyjs()[:400]) == 1


def test_single_seed_suite_omits_seed_pair_sections(engine, tmp_path):
    build_synthetic_warehouse(engine, seeds=(1,), sizes=("14m",), n_positions=150)
    result = build_report(engine, tmp_path / "one.html")
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    assert "seed" in sections["convergence"].missing
    assert any("single-seed" in n for n in sections["overview"].notes)
    for key in ("pos", "frequency", "regression", "tokens"):
        assert sections[key].missing is None and sections[key].figures, key
        assert any("consecutive-step" in n for n in sections[key].notes), key


def test_partly_ingested_checkpoints_only(engine, db_url, tmp_path):
    build_synthetic_warehouse(engine, comparisons=(), n_positions=120)
    result = build_report(engine, tmp_path / "partial.html")
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    assert sections["reference"].missing is None and sections["reference"].figures
    assert sections["overview"].missing is None
    for key in ("convergence", "pos", "ce-fit", "regression", "tokens"):
        assert sections[key].missing, key


def test_scope_selection_and_errors(engine, tmp_path):
    build_synthetic_warehouse(engine, suite="a", corpus="ca", n_positions=100, steps=(0, 16, 256))
    build_synthetic_warehouse(engine, suite="b", corpus="cb", sizes=("1m", "2m", "3m"), n_positions=100,
                              steps=(0, 16, 256), rng_seed=1)
    result = build_report(engine, tmp_path / "b.html", suite="b", sizes=["3m", "1m"])
    assert result.errors == {}
    curve = result.sections[1].figures[0].data
    assert set(curve["size"]) == {"1m", "3m"}
    assert (result.scope.suite, result.scope.corpus) == ("b", "cb")  # the corpus follows the suite's ingest
    assert any("several corpora" in w for w in result.warnings)
    with pytest.raises(ConvdivError, match="no suite named 'zzz'.*a, b"):
        build_report(engine, tmp_path / "x.html", suite="zzz")
    with pytest.raises(ConvdivError, match="no size 9m"):
        build_report(engine, tmp_path / "x.html", suite="a", sizes=["9m"])
    with pytest.raises(ConvdivError, match="no corpus named 'nope'"):
        build_report(engine, tmp_path / "x.html", corpus="nope")


def test_cli_report_command(engine, db_url, tmp_path):
    from convdiv.cli import cli

    build_synthetic_warehouse(engine, n_positions=100, steps=(0, 16, 256, 1000))
    out = tmp_path / "cli.html"
    res = CliRunner().invoke(cli, ["--database-url", db_url, "report", "--out", str(out), "--timings"])
    assert res.exit_code == 0, res.output
    assert str(out.resolve()) in res.output
    assert "regression:" in res.output  # --timings
    assert out.stat().st_size > 4_000_000


def test_warehouse_without_views_says_to_upgrade(engine, tmp_path):
    from convdiv.warehouse import schema

    build_synthetic_warehouse(engine, n_positions=80, steps=(0, 16))
    schema.downgrade(engine, "0001")
    result = build_report(engine, tmp_path / "old.html")
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    assert sections["overview"].missing is None  # reads tables only
    for key in ("convergence", "reference", "pos", "regression", "tokens"):
        assert "convdiv db upgrade" in sections[key].missing, key


def test_regression_sources_agree(engine, db_url, tmp_path):
    """regression_moments, regression_cells and the on-the-fly query give the same fits."""
    build_synthetic_warehouse(engine, n_positions=150, steps=(0, 16, 256))

    def regression(name):
        sec = {s.key: s for s in build_report(engine, tmp_path / name).sections}["regression"]
        assert sec.error is None and sec.missing is None
        return sec

    results = [regression("moments.html")]
    for view in ("regression_moments", "regression_cells"):
        with psycopg.connect(conninfo(db_url), autocommit=True) as conn:
            conn.execute(f"DROP MATERIALIZED VIEW {view}")
        results.append(regression(f"without-{view}.html"))
    assert "sufficient statistics" in " ".join(results[0].notes)
    assert "aggregated design matrices" in " ".join(results[2].notes)
    for step in ("step 0", "step 16", "step 256"):
        a = results[0].tables[1].choices[step].set_index("term")
        for other in results[1:]:
            b = other.tables[1].choices[step].set_index("term")
            assert set(a.index) == set(b.index)
            np.testing.assert_allclose(b.loc[a.index, "estimate"], a["estimate"], rtol=1e-6, atol=1e-12)
            np.testing.assert_allclose(b.loc[a.index, "se"], a["se"], rtol=1e-5)

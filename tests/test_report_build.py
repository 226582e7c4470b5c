"""`build_report` on real PostgreSQL warehouses: synthetic facts in the real schema, empty and partial ones.

The numbers shown are checked against independent reads of the views (and of the row-level regression inputs),
not against the report's own code paths.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs
from scipy import stats

from convdiv.analysis.regression import fit_rows
from convdiv.errors import ConvdivError
from convdiv.report.build import build_report
from convdiv.report.data import Options
from convdiv.testing.synthetic import build_synthetic_warehouse

ALL_SECTIONS = [
    "overview",
    "convergence",
    "learnability",
    "reference",
    "pos",
    "relative-divergence-context",
    "frequency",
    "word",
    "word-ce",
    "divergence-stability",
    "ce-fit",
    "ce-fit-context",
    "regression",
    "tokens",
]


def conninfo(db_url: str) -> str:
    return db_url.replace("postgresql+psycopg://", "postgresql://")


def read(db_url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg.connect(conninfo(db_url)) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def embedded_csvs(html: str) -> dict[str, pd.DataFrame]:
    m = re.search(r"const CONVDIV_CSV = (\{.*?\});\n", html, re.S)
    assert m, "CSV payload missing"
    # each CSV is gzip-compressed and base64-encoded in the page (convdiv.report.build._embedded_csv)
    return {
        k: pd.read_csv(io.StringIO(gzip.decompress(base64.b64decode(v["gz"])).decode("utf-8")))
        for k, v in json.loads(m.group(1)).items()
    }


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
        if s.key == "divergence-stability":  # the divergence peak is the last step (4000): nothing after it
            assert s.missing is not None and s.missing.startswith("no late phase"), s.missing
            continue
        if s.key == "word-ce":  # one tokenization of the synthetic documents: said, not drawn
            assert s.missing is not None and "only tokenization" in s.missing and not s.figures, s.missing
            continue
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
    # 7 significant digits (float32's, the facts' precision: convdiv.report.build.CSV_FLOAT)
    np.testing.assert_allclose(got["mean_kl"], view["mean_kl"].astype(float), rtol=1e-6)
    np.testing.assert_allclose(got["convergence"], -got["mean_kl"])
    # Every figure and table has a CSV.
    assert set(csvs) == {f.key for s in result.sections for f in s.figures} | {
        t.key for s in result.sections for t in s.tables
    }


def test_phases_regression_and_fits_match_independent_computations(engine, db_url, synthetic, tmp_path):
    result = build_report(engine, tmp_path / "report.html")
    sections = {s.key: s for s in result.sections}

    # Phases: the synthetic E[KL] has its bump at 16 and its valley at 256 by construction.
    phases = sections["convergence"].tables[0].frame.set_index("size")
    assert list(phases["uniform_end_step"]) == [16, 16]
    assert list(phases["convergence_min_step"]) == [256, 256]

    # Regression at the last step: the report's fit (SQL-aggregated cells) equals a fit on the raw rows.
    rows = read(
        db_url,
        "SELECT kl, log_frequency, pos_t, pos_prev, size FROM regression_inputs "
        "WHERE kind = 'seed_pair' AND step = 4000 AND log_frequency IS NOT NULL",
    )
    rows["kl"] = rows["kl"].astype(float)
    rows["log_frequency"] = rows["log_frequency"].astype(float)
    direct = fit_rows(rows, size_order=["14m", "70m"])
    table = sections["regression"].tables[1]
    shown = table.choices["step 4000"].set_index("term")
    expected = direct.coefficients.set_index("term")
    assert set(shown.index) == set(expected.index) | {"log10_frequency"}
    assert shown.loc["log10_frequency", "estimate"] == pytest.approx(
        expected.loc["log_frequency", "estimate"] * np.log(10), rel=1e-6
    )
    np.testing.assert_allclose(shown.loc[expected.index, "estimate"], expected["estimate"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(shown.loc[expected.index, "se_ols"], expected["se"], rtol=1e-6)
    # the table's se is the interval over seeds (tests/test_analysis_regression.py checks it against refits)
    assert (shown.loc[expected.index, "se"] > 0).all() and (shown.loc[expected.index, "df"] == 2).all()
    summary = sections["regression"].tables[0].frame.set_index("step")
    assert summary.loc[4000, "n"] == len(rows)
    assert summary.loc[4000, "r2"] == pytest.approx(direct.r2, rel=1e-6)

    # CE fit for DT on dH equals numpy.polyfit on the ce_difference rows of the pooled kinds.
    ce = read(
        db_url,
        "SELECT delta_h, mean_kl FROM ce_difference WHERE family = 'pos_t' AND category = 'DT' "
        "AND kind = 'consecutive_step'",
    )
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
    for key in (
        "convergence",
        "learnability",
        "pos",
        "relative-divergence-context",
        "ce-fit",
        "ce-fit-context",
        "regression",
        "tokens",
    ):
        assert sections[key].missing, key


def test_scope_selection_and_errors(engine, tmp_path):
    build_synthetic_warehouse(engine, suite="a", corpus="ca", n_positions=100, steps=(0, 16, 256))
    build_synthetic_warehouse(
        engine, suite="b", corpus="cb", sizes=("1m", "2m", "3m"), n_positions=100, steps=(0, 16, 256), rng_seed=1
    )
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


def test_a_stale_warehouse_is_refused_with_the_fix(engine, tmp_path):
    """The report reads views only; on a warehouse whose schema is older than this convdiv it says to upgrade
    (no section-by-section fallbacks for older layouts)."""
    from convdiv.errors import StaleSchemaError
    from convdiv.warehouse import schema

    build_synthetic_warehouse(engine, n_positions=80, steps=(0, 16))
    schema.downgrade(engine, "0009")
    with pytest.raises(StaleSchemaError, match="convdiv db upgrade"):
        build_report(engine, tmp_path / "old.html")
    assert not (tmp_path / "old.html").exists()


def test_regression_moments_and_cells_give_the_same_fits(engine, tmp_path):
    """The report fits the per-group sufficient statistics (regression_moments); the exact cells of equal
    regressors (regression_cells) are an independent route to the same OLS: equal estimates and SEs per step."""
    from convdiv.analysis.regression import fit_moments_steps, fit_steps

    build_synthetic_warehouse(engine, n_positions=150, steps=(0, 16, 256))
    sec = {s.key: s for s in build_report(engine, tmp_path / "r.html").sections}["regression"]
    assert sec.error is None and sec.missing is None
    assert "sufficient statistics" in " ".join(sec.notes)
    # three seeds: intervals over seeds, and no bootstrap even when asked (it needs 20 seeds)
    coefs = sec.figures[0].data
    assert ((coefs["ci_low"] < coefs["estimate"]) & (coefs["estimate"] < coefs["ci_high"])).all()
    assert "boot_low" not in coefs
    asked = {
        s.key: s for s in build_report(engine, tmp_path / "n.html", options=Options(regression_bootstrap=True)).sections
    }["regression"]
    assert "boot_low" not in asked.figures[0].data
    assert (
        "3 seeds, 6 comparisons per step, each step's fit: 900 (comparison, position) rows" in asked.figures[0].caption
    )

    where = "kind = 'seed_pair' AND log_frequency IS NOT NULL"
    moments = pd.read_sql("SELECT * FROM regression_moments WHERE kind = 'seed_pair'", engine)
    cells = pd.read_sql(f"SELECT * FROM regression_cells WHERE {where}", engine)
    by_moments = fit_moments_steps(moments)
    by_cells = fit_steps(cells)
    assert sorted(by_moments) == sorted(by_cells) == [0, 16, 256]
    for step in by_moments:
        a = by_moments[step].coefficients.set_index("term")
        b = by_cells[step].coefficients.set_index("term")
        assert set(a.index) == set(b.index)
        np.testing.assert_allclose(b.loc[a.index, "estimate"], a["estimate"], rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(b.loc[a.index, "se"], a["se"], rtol=1e-5)
    shown = sec.tables[1].choices["step 16"].set_index("term")
    np.testing.assert_allclose(
        shown.loc[a.index.intersection(shown.index), "estimate"],
        by_moments[16].coefficients.set_index("term").loc[a.index.intersection(shown.index), "estimate"],
        rtol=1e-6,
        atol=1e-12,
    )


def _fit_tables(result) -> dict[str, pd.DataFrame]:
    sections = {s.key: s for s in result.sections}
    return {key: sections[key].tables[0].frame for key in ("ce-fit", "ce-fit-context")}


def test_ce_fit_is_stable_under_an_extra_cross_size_ingest(engine, tmp_path):
    """The same facts with and without cross-size comparisons give the same CE fits unless cross-size is asked for."""
    build_synthetic_warehouse(engine, suite="plain", corpus="plain-text", n_positions=150, steps=(0, 4, 16, 256, 1000))
    build_synthetic_warehouse(
        engine,
        suite="crossed",
        corpus="crossed-text",
        n_positions=150,
        steps=(0, 4, 16, 256, 1000),
        comparisons=("seed_pair", "consecutive_step", "cross_size"),
    )
    plain = _fit_tables(build_report(engine, tmp_path / "plain.html", suite="plain"))
    crossed_result = build_report(engine, tmp_path / "crossed.html", suite="crossed")
    crossed = _fit_tables(crossed_result)
    for key in plain:
        a, b = plain[key].set_index(["category", "Q"]), crossed[key].set_index(["category", "Q"])
        assert len(a) > 10 and set(a.index) == set(b.index)
        pd.testing.assert_frame_equal(a.sort_index(), b.sort_index())
        assert set(a["pairs"]) == {"consecutive steps"}
        # alpha x 100 as the slides print it
        row = a.dropna(subset=["alpha"]).iloc[0]
        assert row["alpha_pct"] == f"{100 * row['alpha']:.2f}%"
    ce = {s.key: s for s in crossed_result.sections}["ce-fit"]
    assert any("pooled from consecutive steps comparisons" in n for n in ce.notes)

    asked = _fit_tables(
        build_report(
            engine,
            tmp_path / "asked.html",
            suite="crossed",
            options=Options(ce_fit_kinds=("consecutive_step", "cross_size")),
        )
    )
    both = asked["ce-fit"].set_index(["category", "Q"]).sort_index()
    assert set(both["pairs"]) == {"consecutive steps, cross-size"}
    only = plain["ce-fit"].set_index(["category", "Q"]).sort_index()
    assert (both["n"] > only["n"]).all()
    assert not np.allclose(both["alpha"].dropna(), only.loc[both["alpha"].dropna().index, "alpha"])


def test_unknown_ce_fit_kind_is_one_line(engine, db_url, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "convdiv",
            "--database-url",
            db_url,
            "report",
            "--out",
            str(tmp_path / "x.html"),
            "--ce-fit-kinds",
            "consecutive_step,sideways",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "unknown comparison kind sideways" in out and "Traceback" not in out


def test_new_sections_show_their_numbers(engine, db_url, synthetic, tmp_path):
    result = build_report(engine, tmp_path / "report.html")
    sections = {s.key: s for s in result.sections}

    # learnability: the consecutive-step expected_kl curve, read independently
    curve = sections["learnability"].figures[0].data
    view = read(
        db_url, "SELECT size, step, mean_kl FROM expected_kl WHERE kind = 'consecutive_step' ORDER BY size_rank, step"
    )
    assert list(curve["step"]) == list(view["step"]) and list(curve["size"]) == list(view["size"])
    np.testing.assert_allclose(curve["mean_kl"], view["mean_kl"].astype(float), rtol=1e-9)
    # the band is the t interval over runs of the log mean (leave one run out), recomputed here from the runs;
    # 70m lacks seed 3 at step 1000, so its intervals at 256 and 1000 have two runs (1 df); no bootstrap below
    # 20 seeds
    runs = read(
        db_url,
        "SELECT ci.size_a AS size, ci.step_a AS step, cs.mean_kl FROM comparison_stats cs "
        "JOIN comparison_info ci USING (comparison_id) WHERE cs.family = 'all' AND ci.kind = 'consecutive_step'",
    )
    for (size, step), g in runs.groupby(["size", "step"]):
        v = g["mean_kl"].astype(float).to_numpy()
        loo = np.log([np.delete(v, i).mean() for i in range(len(v))])
        se = np.sqrt((len(v) - 1) / len(v) * ((loo - loo.mean()) ** 2).sum())
        q = stats.t.ppf(0.975, len(v) - 1)
        row = curve[(curve["size"] == size) & (curve["step"] == step)].iloc[0]
        assert row["n_seeds"] == len(v) == (2 if size == "70m" and step in (256, 1000) else 3)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((v.mean() * np.exp(-q * se), v.mean() * np.exp(q * se)))
    assert curve["boot_low"].isna().all()
    assert "n: 2-3 seeds" in sections["learnability"].figures[0].caption

    # context heatmap: sigma of POS(t-1) from relative_divergence, with bootstrap intervals around it
    heat = sections["relative-divergence-context"].figures[0].data
    rd = read(
        db_url,
        "SELECT size, step, category, sigma FROM relative_divergence WHERE family = 'pos_prev' AND kind = 'seed_pair'",
    )
    merged = heat.merge(rd, on=["size", "step", "category"], suffixes=("", "_view"))
    assert len(merged) == len(heat) > 0
    np.testing.assert_allclose(merged["sigma"], merged["sigma_view"].astype(float), rtol=1e-9)
    missing = heat["sigma_low"].isna()
    assert set(zip(heat.loc[missing, "size"], heat.loc[missing, "step"])) == {("70m", 1000)}  # two seeds there
    excludes = heat["interval_excludes_1"].astype(bool)
    assert ((heat["sigma_low"] > 1) | (heat["sigma_high"] < 1)).eq(excludes).all()
    flagged = heat["marked"].astype(bool)
    assert flagged.any() and (flagged <= excludes).all()
    assert (flagged == excludes & (np.abs(np.log(heat["sigma"])) >= np.log(1.1))).all()

    # regression: the log10 slope is ln(10) times the ln slope of the same fit
    coefs = sections["regression"].figures[0].data
    ln = coefs[coefs["term"] == "log_frequency"].set_index("step")["estimate"]
    log10 = coefs[coefs["term"] == "log10_frequency"].set_index("step")["estimate"]
    np.testing.assert_allclose(log10, ln * np.log(10), rtol=1e-12)
    # 70m has no seed 3 at step 1000: without seed 1 (or 2) it has no pair there, so no interval, and a note says so
    with_interval = coefs.dropna(subset=["ci_low"])
    assert set(coefs["step"]) - set(with_interval["step"]) == {1000}
    assert any(n.startswith("step 1000: no interval over seeds") for n in sections["regression"].notes)
    summary = sections["regression"].tables[0].frame.set_index("step")
    assert summary.loc[4000, "n"] == 2 * 3 * 300 and summary.loc[4000, "n_seeds"] == 3

    # the necessary-condition statement, per size and step
    need = {t.key: t.frame for t in sections["ce-fit"].tables}["ce-fit-necessity"]
    assert set(need["size"]) == {"14m", "70m"} and need["share_low_kl_with_small_dh"].dropna().between(0, 1).all()


def test_report_prints_the_views_phase_rule_only(engine, tmp_path):
    """A seed curve that only rises has no convergence minimum; the report says so and shows no second rule."""
    build_synthetic_warehouse(engine, n_positions=120, steps=(0, 1, 4, 16, 64, 256, 1000, 2000, 4000), dip=False)
    result = build_report(engine, tmp_path / "nodip.html")
    conv = {s.key: s for s in result.sections}["convergence"]
    table = conv.tables[0].frame.set_index("size")
    assert table["convergence_min_step"].isna().all()
    assert not any(c.startswith("sql_") for c in table.columns)
    assert (table["divergence_peak_step"] == 2000).all()
    assert sum("never dips below its value at the end of the uniform phase" in n for n in conv.notes) == 2
    spec = conv.figures[0].figure
    menu = {b["label"]: b["args"][0] for b in spec["layout"]["updatemenus"][0]["buttons"]}
    paper = [a["text"] for a in menu["paper's phases"]["annotations"]]
    assert "sharp convergence" not in paper and "sharp divergence" in paper
    presentation = [a["text"] for a in menu["presentation's phases"]["annotations"]]
    # the synthetic curve rises sharply right where the uniform phase ends: no functional universality span
    assert presentation[0] == "uniform" and "unigram transition" in presentation
    assert "functional universality" not in presentation


def test_divergence_stability_section_shows_the_views_measures_and_their_correlation(engine, db_url, tmp_path):
    """With a late phase (steps past the divergence peak at 2000): the scatter's early and late sigma are the
    divergence_stability view's, the per-comparison jackknife input (analysis.stability) gives the same values on
    all seeds, the table's rho is Spearman's over the plotted categories, and each note is the rule's sentence."""
    from scipy import stats as st

    from convdiv.analysis.findings import stability_account

    steps = (0, 1, 4, 16, 64, 256, 1000, 2000, 8000, 32000, 143000)
    build_synthetic_warehouse(engine, steps=steps, n_positions=1200)
    result = build_report(engine, tmp_path / "ds.html")
    sec = {s.key: s for s in result.sections}["divergence-stability"]
    assert sec.missing is None and sec.error is None
    data = sec.figures[0].data
    view = read(db_url, "SELECT size, family, category, early_sigma, late_sigma, n_positions FROM divergence_stability")
    merged = data.merge(view, on=["size", "family", "category"], suffixes=("", "_view"))
    assert len(merged) == len(data) > 10 and (merged["n_positions"] >= 50).all()
    for col in ("early_sigma", "late_sigma"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_view"].astype(float), rtol=1e-9)
    # the jackknife's interval brackets its estimate (3 seeds: an interval exists)
    assert (data["early_low"] <= data["early_sigma"] * (1 + 1e-9)).all() and (data["n_seeds"] == 3).all()
    assert (data["late_high"] >= data["late_sigma"] * (1 - 1e-9)).all()
    corr = sec.tables[0].frame
    tested = 0
    for row in corr.itertuples():
        fam = {"POS(t)": "pos_t", "POS(t-1)": "pos_prev", "frequency bin": "frequency_bin"}[row.family]
        g = data[(data["size"] == row.size) & (data["family"] == fam)].dropna(subset=["early_sigma", "late_sigma"])
        assert row.n_categories == len(g)
        if len(g) >= 5:
            tested += 1
            assert row.rho == pytest.approx(st.spearmanr(g["early_sigma"], g["late_sigma"]).statistic)
            assert row.rho_low <= row.rho <= row.rho_high
        else:
            assert np.isnan(row.rho)
        sentence = stability_account(row._asdict(), row.family)
        assert f"size {row.size}, {sentence}" in sec.notes
    assert tested >= 2
    assert any("late phase the consecutive-step intervals from step 2000" in n for n in sec.notes)


def test_tag_counts_and_overview_provenance(engine, db_url, synthetic, tmp_path):
    """The POS section's tag-count table equals counts of the position table's tags (read directly), untagged
    last, shares of all positions; the overview names the frequency source and the ingest's start and end."""
    result = build_report(engine, tmp_path / "tags.html")
    sections = {s.key: s for s in result.sections}
    table = {t.key: t for t in sections["pos"].tables}["pos-tag-counts"]
    got = table.frame.set_index("tag")
    pos = read(db_url, "SELECT pos_t, pos_prev FROM position")
    for col in ("pos_t", "pos_prev"):
        expected = pos[col].fillna("(untagged)").value_counts()
        assert got[f"positions_{col}"].to_dict() == {k: int(v) for k, v in expected.items()} | {
            k: 0 for k in set(got.index) - set(expected.index)
        }
        np.testing.assert_allclose(got[f"share_{col}"], got[f"positions_{col}"] / len(pos))
    assert table.frame["tag"].iloc[-1] == "(untagged)"
    spacy_model = read(db_url, "SELECT spacy_model FROM corpus")["spacy_model"].iloc[0]
    assert f"tagged by spaCy {spacy_model}" in table.caption
    summary = dict(sections["overview"].tables[0].frame.itertuples(index=False))
    source = read(db_url, "SELECT frequency_source FROM corpus")["frequency_source"].iloc[0]
    assert summary["token frequencies from"].startswith(
        "the evaluation text itself" if source == "self" else str(source)
    )
    runs = read(db_url, "SELECT started_at, finished_at FROM ingest_run")
    assert summary["ingest started"] == f"{pd.to_datetime(runs['started_at'], utc=True).min():%Y-%m-%d %H:%M:%S} UTC"
    assert summary["ingest finished"] == f"{pd.to_datetime(runs['finished_at'], utc=True).max():%Y-%m-%d %H:%M:%S} UTC"


def test_one_colour_per_tag_shared_sigma_range_and_plain_log_ticks(engine, synthetic, tmp_path):
    """Issue 20's colours: a tag has one colour in every figure; begin/end of word use neither a size's nor a
    tag's colour; every sigma heatmap has the same range, symmetric around sigma = 1 on the log scale; interval
    rings are drawn dark (an open marker strokes with marker.color: unset, it took the colorway's green); every
    log value axis prints plain numbers."""
    from convdiv.report.figures import PALETTE, SIGMA_LOG2_RANGE

    out = tmp_path / "colours.html"
    build_report(engine, out)
    specs = figure_specs(out.read_text(encoding="utf-8"))
    colours: dict[str, set] = {}
    for key, spec in specs.items():
        if not key.startswith(("pos-pos", "ce-fit")):
            continue
        for tr in spec["data"]:
            colour = (tr.get("line") or {}).get("color") or (tr.get("marker") or {}).get("color")
            name = tr.get("name", "")
            if isinstance(colour, str) and name and not name.endswith(("band", "fit")):
                colours.setdefault(name, set()).add(colour)
    assert {"NN", "DT", "JJ"} <= set(colours)
    assert all(len(c) == 1 for c in colours.values()), {k: v for k, v in colours.items() if len(v) > 1}
    word = [tr for tr in specs["word-boundaries"]["data"] if tr.get("mode") == "lines+markers"]
    word_colours = {tr["line"]["color"] for tr in word}
    assert len(word_colours) == 2 and not word_colours & set(PALETTE)
    heatmaps = [tr for key, spec in specs.items() if "sigma" in key for tr in spec["data"] if tr["type"] == "heatmap"]
    assert len(heatmaps) >= 4
    assert {(tr["zmin"], tr["zmax"], tr["zmid"]) for tr in heatmaps} == {(-SIGMA_LOG2_RANGE, SIGMA_LOG2_RANGE, 0)}
    rings = [
        tr for spec in specs.values() for tr in spec["data"] if (tr.get("marker") or {}).get("symbol") == "circle-open"
    ]
    assert rings and all(tr["marker"]["color"] == "#222222" for tr in rings)
    log_axes = [
        (key, name, axis)
        for key, spec in specs.items()
        for name, axis in spec["layout"].items()
        if name.startswith(("xaxis", "yaxis")) and axis.get("type") == "log" and "ticktext" not in axis
    ]
    assert log_axes and all(axis.get("exponentformat") == "none" for _, _, axis in log_axes), log_axes

"""Suites with one seed, or one size (issue 22, part 5), really ingested: the views, the phase rules that need no
seed pairs, and the report, whose sections either draw data or say in one line what they need.

Three random-init local suites (convdiv.testing.suites) over the tiny Austen corpus, each ingested with the default
comparisons: ``oneseed`` (sizes xs and s, seed 1), ``onesize`` (size s, seeds 1-3), ``solo`` (size xs, seed 1) and
``twoseed`` (size s, seeds 1-2: one seed pair per step, too few for an interval over seeds of seed pairs).
The oracle reads the raw fact rows and recomputes CE, the reference KLs, consecutive-step E[KL] and the two phase
boundaries read off the reference curves in pandas (float64).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from convdiv.analysis.intervals import INTERVAL_KIND
from convdiv.config import Settings
from convdiv.report.build import build_report
from convdiv.testing.browser import open_report
from convdiv.testing.databases import create_migrated_database, drop_database
from convdiv.testing.ingest import CORPUS, add_tiny_corpus
from convdiv.testing.suites import build_random_suite

SUITES = {
    "oneseed": (("xs", "s"), (1,)),
    "onesize": (("s",), (1, 2, 3)),
    "solo": (("xs",), (1,)),
    "twoseed": (("s",), (1, 2)),
}
SINGLE_SEED = ("oneseed", "solo")
STEPS = (0, 1, 4, 16)
UNIFORM_END_FRACTION = 0.1  # the setting convdiv.uniform_end_fraction's default (sql/views/phase_boundaries.sql)
NEEDS_SEEDS = "needs at least 2 seeds"
ONE_TOKENIZATION = "is the only tokenization of its documents"


@pytest.fixture(scope="module")
def warehouse(migrated_template, tmp_path_factory):
    from convdiv.ingest.run import ingest

    url = create_migrated_database(migrated_template, "convdiv_single")
    engine = sa.create_engine(url)
    root = tmp_path_factory.mktemp("single")
    try:
        for name, (sizes, seeds) in SUITES.items():
            build_random_suite(root / name, sizes=sizes, seeds=seeds, steps=STEPS)
        add_tiny_corpus(engine, root / "oneseed")
        settings = Settings.from_env(database_url=url, data_dir=root / "data")
        for name in SUITES:
            ingest(engine, settings, str(root / name), CORPUS, progress=False)  # the default comparisons
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture(scope="module")
def reports(warehouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return {name: build_report(warehouse, out / f"{name}.html", suite=name, corpus=CORPUS) for name in SUITES}


def read(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(sql), conn, params=params)


def checkpoints(engine) -> pd.DataFrame:
    return read(
        engine,
        "SELECT c.checkpoint_id, s.name AS suite, m.size, r.seed, c.step FROM checkpoint c JOIN run r USING (run_id) "
        "JOIN model m USING (model_id) JOIN suite s USING (suite_id)",
    )


def consecutive_step_kl(engine) -> pd.DataFrame:
    """Per consecutive-step comparison: its mean symmetrised KL over positions (float64 over the float4 facts),
    with the earlier checkpoint's suite, size, seed and step."""
    pt = read(
        engine,
        "SELECT p.comparison_id, c.checkpoint_a, p.kl_ab, p.kl_ba FROM pair_token p JOIN comparison c "
        "USING (comparison_id) WHERE c.kind = 'consecutive_step'",
    )
    pt["kl"] = (pt["kl_ab"].astype("float32").astype(float) + pt["kl_ba"].astype("float32").astype(float)) / 2
    per = pt.groupby(["comparison_id", "checkpoint_a"], as_index=False)["kl"].mean()
    per = per.merge(checkpoints(engine), left_on="checkpoint_a", right_on="checkpoint_id")
    return per


def oracle_reference(engine) -> pd.DataFrame:
    """Per suite, size and step: the mean over seeds of each checkpoint's mean over positions (float4 as stored)."""
    ct = read(engine, "SELECT checkpoint_id, ce, kl_uniform, kl_unigram FROM checkpoint_token")
    for c in ("ce", "kl_uniform", "kl_unigram"):
        ct[c] = ct[c].astype("float32").astype("float64")
    per = ct.groupby("checkpoint_id").mean().reset_index().merge(checkpoints(engine), on="checkpoint_id")
    return per.groupby(["suite", "size", "step"], as_index=False).agg(
        n_seeds=("seed", "nunique"),
        ce=("ce", "mean"),
        kl_uniform=("kl_uniform", "mean"),
        kl_unigram=("kl_unigram", "mean"),
    )


def oracle_consecutive(engine) -> pd.DataFrame:
    """Per suite, size and earlier step: the mean over runs of each consecutive-step comparison's mean symmetrised
    KL over positions."""
    per = consecutive_step_kl(engine)
    return per.groupby(["suite", "size", "step"], as_index=False).agg(kl=("kl", "mean"), runs=("seed", "nunique"))


def oracle_phases(ref: pd.DataFrame) -> pd.DataFrame:
    """Rules 1-2 of the phase boundaries from the reference curves alone: the first step with KL to uniform above
    min + f (max - min); from there on, the step with the lowest KL to the unigram (ties: the earliest)."""
    rows = []
    for (suite, size), g in ref.sort_values("step").groupby(["suite", "size"]):
        u = g["kl_uniform"].to_numpy()
        end = int(g["step"].to_numpy()[np.argmax(u > u.min() + UNIFORM_END_FRACTION * (u.max() - u.min()))])
        after = g[g["step"] >= end]
        closest = int(after["step"].to_numpy()[np.argmin(after["kl_unigram"].to_numpy())])
        rows.append({"suite": suite, "size": size, "uniform_end_step": end, "unigram_closest_step": closest})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- views


def test_every_view_reads_and_seed_pair_analyses_are_empty_for_one_seed(warehouse):
    views = read(warehouse, "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'")
    columns = read(
        warehouse, "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
    )
    checked = 0
    for view in sorted(views["table_name"]):
        cols = set(columns.loc[columns["table_name"] == view, "column_name"])
        rows = read(warehouse, f"SELECT * FROM {view}")  # every view reads without an error
        if "suite" not in cols or "kind" not in cols:
            continue
        checked += 1
        for suite in SINGLE_SEED:
            kinds = set(rows.loc[rows["suite"] == suite, "kind"])
            assert "seed_pair" not in kinds, (view, suite)
        if view in ("expected_kl", "conditional_kl", "relative_divergence", "phase_boundaries"):
            for suite in ("onesize", "twoseed"):
                assert "seed_pair" in set(rows.loc[rows["suite"] == suite, "kind"]), (view, suite)
            for suite in SINGLE_SEED:
                assert set(rows.loc[rows["suite"] == suite, "kind"]) == {"consecutive_step"}, (view, suite)
    assert checked >= 8
    stability = read(warehouse, "SELECT suite FROM divergence_stability")
    assert not set(stability["suite"]) & set(SINGLE_SEED)


def test_ce_reference_kls_and_learnability_match_pandas(warehouse):
    ref = oracle_reference(warehouse)
    view = read(
        warehouse, "SELECT suite, size, step, n_seeds, mean_ce, mean_kl_uniform, mean_kl_unigram FROM reference_kl"
    )
    got = ref.merge(view, on=["suite", "size", "step"], how="outer", validate="one_to_one")
    assert len(got) == sum(len(sizes) * len(STEPS) for sizes, _ in SUITES.values())
    assert (got["n_seeds_x"] == got["n_seeds_y"]).all()
    for ours, theirs in (("ce", "mean_ce"), ("kl_uniform", "mean_kl_uniform"), ("kl_unigram", "mean_kl_unigram")):
        np.testing.assert_allclose(got[theirs].astype(float), got[ours], rtol=1e-6, err_msg=ours)

    cons = oracle_consecutive(warehouse)
    view = read(warehouse, "SELECT suite, size, step, step_b, mean_kl FROM expected_kl WHERE kind = 'consecutive_step'")
    got = cons.merge(view, on=["suite", "size", "step"], how="outer", validate="one_to_one")
    assert len(got) == sum(len(sizes) * (len(STEPS) - 1) for sizes, _ in SUITES.values())
    np.testing.assert_allclose(got["mean_kl"].astype(float), got["kl"], rtol=1e-6)
    assert (got.loc[got["suite"].isin(SINGLE_SEED), "runs"] == 1).all()


def test_phase_rules_that_need_no_seed_pairs_hold_for_one_seed(warehouse):
    """Rules 1-2 (end of the uniform phase, closest to the unigram) read the reference curves alone: a single-seed
    suite has them, equal to the oracle's; the rules read off E[KL] across seeds have no seed-pair row to come from.
    """
    expected = oracle_phases(oracle_reference(warehouse))
    view = read(warehouse, "SELECT * FROM phase_boundaries")
    for suite in SINGLE_SEED:
        rows = view[view["suite"] == suite]
        assert set(rows["kind"]) == {"consecutive_step"}
        got = rows.merge(expected, on=["suite", "size"], suffixes=("", "_oracle"))
        assert len(got) == len(SUITES[suite][0])
        for col in ("uniform_end_step", "unigram_closest_step"):
            assert list(got[col].astype(int)) == list(got[f"{col}_oracle"]), (suite, col)
    # the several-seed suite places the same two boundaries on its seed-pair row (they agree across kinds)
    seeds = view[(view["suite"] == "onesize") & (view["kind"] == "seed_pair")].merge(
        expected, on=["suite", "size"], suffixes=("", "_oracle")
    )
    assert list(seeds["uniform_end_step"].astype(int)) == list(seeds["uniform_end_step_oracle"]) != []


# --------------------------------------------------------------------------------------------- the report

NAN = re.compile(r"\bnan\b", re.I)


def test_single_seed_report_says_what_needs_more_seeds(reports, warehouse):
    expected = oracle_phases(oracle_reference(warehouse))
    for suite in SINGLE_SEED:
        result = reports[suite]
        assert result.errors == {}, suite
        sections = {s.key: s for s in result.sections}
        missing = {k: s.missing for k, s in sections.items() if s.missing}
        # exactly the two sections built on seed pairs are left out, each with one line saying what it needs
        # (and word-ce, as for every corpus with one tokenization: it says what it needs instead)
        assert set(missing) == {"convergence", "divergence-stability", "word-ce"}, (suite, missing)
        assert ONE_TOKENIZATION in missing.pop("word-ce")
        assert all(m.startswith(NEEDS_SEEDS) and "\n" not in m for m in missing.values()), missing
        assert any(n.startswith("single-seed suite") for n in sections["overview"].notes)
        assert any(n.startswith("single-seed suite: seed pairs need at least 2 seeds") for n in sections["pos"].notes)
        for key, sec in sections.items():
            if sec.missing:
                continue
            assert sec.figures, (suite, key)
            for fig in sec.figures:
                assert len(fig.data), (suite, fig.key)  # no figure without rows
                # no interval over seeds exists: no caption names one
                assert INTERVAL_KIND not in fig.caption and "band: plus/minus" not in fig.caption, (
                    fig.key,
                    fig.caption,
                )
            for note in sec.notes:
                assert not NAN.search(note), (key, note)
                assert "from the divergence peak on" not in note, (key, note)  # there is no peak to start from
        # CE and the reference KLs are drawn; the reference table holds the two phase boundaries of the oracle
        closest = sections["reference"].tables[0].frame.merge(expected[expected["suite"] == suite], on="size")
        assert len(closest) == len(SUITES[suite][0])
        for col in ("uniform_end_step", "unigram_closest_step"):
            assert list(closest[f"{col}_x"]) == list(closest[f"{col}_y"]), col
        # learnability: the consecutive-step curve of the run, every size
        curve = sections["learnability"].figures[0].data
        assert set(curve["size"]) == set(SUITES[suite][0]) and len(curve) == len(SUITES[suite][0]) * (len(STEPS) - 1)
        text = " ".join(sections["reference"].notes)
        assert "comparing it with the convergence minimum of E[KL] across seeds needs at least 2 seeds" in text
    fits = " ".join(n for s in reports["solo"].sections if s.key.startswith("ce-fit") for n in s.notes)
    assert "no interval, 1 seed(s): too few" in fits and "nothing claimed without an interval" in fits


def test_one_size_report_draws_every_seed_section(reports):
    result = reports["onesize"]
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    assert sections["convergence"].missing is None and sections["convergence"].figures
    assert any(n.startswith("one size in this report") for n in sections["overview"].notes)
    assert not any(n.startswith("single-seed") for n in sections["overview"].notes)
    # three seeds: seed pairs have their interval, and the captions name it
    assert INTERVAL_KIND in sections["convergence"].figures[0].caption
    # the divergence peak is the last ingested step here: the section says what it needs (later checkpoints)
    assert sections["divergence-stability"].missing.startswith("no late phase")
    for sec in result.sections:
        assert not any(NAN.search(n) for n in sec.notes), sec.key
        assert all(len(f.data) for f in sec.figures), sec.key


def test_two_seeds_draw_no_seed_pair_interval_and_say_so(reports, warehouse):
    """One seed pair per step: the jackknife over seeds needs 3 seeds for seed pairs (2 for comparisons within
    runs), so the seed-pair figures have no interval and their captions say what it needs; the consecutive-step
    curve, with 2 runs, has its interval (t with 1 df) and names it."""
    result = reports["twoseed"]
    assert result.errors == {}
    sections = {s.key: s for s in result.sections}
    conv = sections["convergence"].figures[0]
    assert conv.data["ci_low"].isna().all() and conv.data["ci_high"].isna().all()
    assert "no interval: an interval over seeds needs at least 3 seeds for seed pairs" in conv.caption
    assert "1 seed pair per size and step" in conv.caption and INTERVAL_KIND not in conv.caption
    for key in ("pos", "frequency", "word"):
        assert "needs at least 3 seeds for seed pairs" in sections[key].figures[0].caption, key
    assert "no interval: an interval over seeds needs at least 3 seeds" in sections["regression"].figures[0].caption
    learn = sections["learnability"].figures[0]
    assert INTERVAL_KIND in learn.caption
    # the band drawn is the jackknife over the 2 runs: the t interval of the 2 runs' log means (1 df)
    runs = oracle_runs(warehouse, "twoseed")
    got = learn.data.merge(runs, on=["size", "step"])
    assert len(got) == len(STEPS) - 1
    np.testing.assert_allclose(got["ci_low"], got["oracle_low"], rtol=1e-5)
    np.testing.assert_allclose(got["ci_high"], got["oracle_high"], rtol=1e-5)
    for sec in result.sections:
        assert not any(NAN.search(n) for n in sec.notes), sec.key


def oracle_runs(engine, suite: str) -> pd.DataFrame:
    """The 95% t interval over runs of the log of E[KL] between consecutive steps, from the raw rows: with one
    comparison per run, the leave-one-run-out jackknife of the log mean has se = sd(log loo) * (S - 1) / sqrt(S)."""
    from scipy import stats

    per = consecutive_step_kl(engine)
    rows = []
    for (size, step), g in per[per["suite"] == suite].groupby(["size", "step"]):
        x = g["kl"].to_numpy(float)
        s = len(x)
        loo = np.log((x.sum() - x) / (s - 1))
        se = np.sqrt((s - 1) / s * ((loo - loo.mean()) ** 2).sum())
        q = stats.t.ppf(0.975, s - 1)
        m = np.log(x.mean())
        rows.append({"size": size, "step": step, "oracle_low": np.exp(m - q * se), "oracle_high": np.exp(m + q * se)})
    return pd.DataFrame(rows)


@pytest.mark.browser
@pytest.mark.parametrize("suite", list(SUITES))
def test_single_run_reports_draw_no_empty_figure_in_chromium(reports, chromium, suite):
    """Every figure of each report holds a drawn trace with points; each left-out section is one box saying what it
    needs, with no figure; nothing logs an error or fetches anything."""
    result = reports[suite]
    drawn = {f.key: s.key for s in result.sections for f in s.figures}
    missing = {s.key: s.missing for s in result.sections if s.missing}
    assert "word-ce" in missing  # one tokenization of the corpus: said, not drawn
    assert drawn and (set(missing) - {"word-ce"} == {"convergence", "divergence-stability"}) == (suite in SINGLE_SEED)

    def check(page, errors, requests):
        for key, section in drawn.items():
            fig = page.locator(f"section#{section} div#fig-{key}")
            # a drawn trace with points (x, y or z), never an empty frame with axes only
            assert fig.evaluate(
                "el => el._fullData.some(t => t.visible !== false && "
                "['x', 'y', 'z'].some(k => t[k] && t[k].length > 0))"
            ), key
        assert page.locator("div.missing-box").count() == len(missing)
        for section, text in missing.items():
            box = page.locator(f"section#{section} div.missing-box")
            assert text in box.inner_text(), section
            assert page.locator(f"section#{section} div.figure").count() == 0, section
            if suite in SINGLE_SEED and section != "word-ce":
                assert NEEDS_SEEDS in box.inner_text(), section
        assert errors == []
        assert requests == [result.path.resolve().as_uri()]
        return True

    assert open_report(result.path, chromium, check)

"""Per-step regression: the aggregated exact fit against row-level OLS and a numpy lstsq on the same design."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from convdiv.analysis.regression import (
    NO_TAG,
    aggregate_cells,
    fit_cells,
    fit_moments,
    fit_moments_steps,
    fit_rows,
    fit_steps,
    moments_from_rows,
    seed_jackknife_steps,
)

TAGS_T = ["NN", "DT", "VB", "JJ", None]
TAGS_PREV = ["DT", "NN", "IN", "PRP$"]
SIZES = ["14m", "70m", "160m"]
BETA = {"NN": 0.0, "DT": -0.3, "VB": 0.4, "JJ": 0.2, None: 0.1}
GAMMA = {"DT": 0.0, "NN": 0.15, "IN": -0.1, "PRP$": 0.05}
DELTA = {"14m": 0.0, "70m": -0.2, "160m": -0.35}


def synthetic_rows(n_positions=300, n_comparisons=4, seed=0):
    rng = np.random.default_rng(seed)
    pos_t = rng.choice(len(TAGS_T), n_positions)
    pos_prev = rng.choice(len(TAGS_PREV), n_positions)
    log_f = np.round(rng.uniform(0, 10, n_positions), 1)
    rows = []
    for size in SIZES:
        for c in range(n_comparisons):
            for i in range(n_positions):
                t, p = TAGS_T[pos_t[i]], TAGS_PREV[pos_prev[i]]
                kl = 1.0 - 0.05 * log_f[i] + BETA[t] + GAMMA[p] + DELTA[size] + rng.normal(scale=0.2)
                rows.append(
                    {
                        "comparison": c,
                        "position": i,
                        "size": size,
                        "pos_t": t,
                        "pos_prev": p,
                        "log_frequency": log_f[i],
                        "kl": kl,
                    }
                )
    return pd.DataFrame(rows)


def design_matrix(df, refs):
    """Treatment coding built by hand, independently of statsmodels/formulaic."""
    cols = {"intercept": np.ones(len(df)), "log_frequency": df["log_frequency"].to_numpy(float)}
    for factor, ref in refs.items():
        values = df[factor].fillna(NO_TAG).astype(str)
        for level in sorted(set(values) - {ref}):
            cols[f"{factor}[{level}]"] = (values == level).to_numpy(float)
    return pd.DataFrame(cols)


def test_aggregated_fit_equals_row_level_ols_and_lstsq():
    rows = synthetic_rows()
    fit = fit_rows(rows, size_order=SIZES)
    assert fit.references == {"pos_t": "NN", "pos_prev": "NN", "size": "14m"}
    assert fit.n == len(rows) and fit.n_cells < fit.n
    assert fit.method.startswith("exact OLS on an aggregated design matrix")
    assert fit.rank == fit.n_params  # reference coding: never collinear

    X = design_matrix(rows, fit.references)
    beta, *_ = np.linalg.lstsq(X.to_numpy(), rows["kl"].to_numpy(), rcond=None)
    expected = dict(zip(X.columns, beta))
    got = dict(zip(fit.coefficients["term"], fit.coefficients["estimate"]))
    assert set(got) == set(expected)
    for term, value in expected.items():
        assert got[term] == pytest.approx(value, abs=1e-9), term

    # Standard errors and R^2 from the cells equal row-level statsmodels OLS.
    r = rows.assign(pos_t=rows.pos_t.fillna(NO_TAG))
    ols = smf.ols(
        "kl ~ log_frequency + C(pos_t, Treatment('NN')) + C(pos_prev, Treatment('NN')) + C(size, Treatment('14m'))",
        data=r,
    ).fit()
    assert fit.r2 == pytest.approx(ols.rsquared, rel=1e-9)
    assert fit.adj_r2 == pytest.approx(ols.rsquared_adj, rel=1e-9)
    se_rows = dict(zip(X.columns, np.sqrt(np.diag(ols.cov_params().to_numpy()))))
    # ols's column order differs; match by the coefficient value instead of name.
    by_value = {round(v, 8): s for v, s in zip(ols.params.to_numpy(), ols.bse.to_numpy())}
    for term, est, se in fit.coefficients[["term", "estimate", "se"]].itertuples(index=False):
        assert se == pytest.approx(by_value[round(est, 8)], rel=1e-7), term
    assert len(se_rows) == len(fit.coefficients)

    # The simulated effects are recovered (the sizes and the log-frequency slope).
    assert fit.coefficient("log_frequency")["estimate"] == pytest.approx(-0.05, abs=0.01)
    assert fit.coefficient("size", "160m")["estimate"] == pytest.approx(-0.35, abs=0.05)
    row = fit.coefficient("size", "70m")
    assert row["ci_low"] < -0.2 < row["ci_high"]


def test_reference_falls_back_to_most_frequent_and_single_levels_drop():
    rows = synthetic_rows(n_positions=80, n_comparisons=2, seed=1)
    rows = rows[(rows["pos_t"] != "NN") & (rows["size"] == "70m")]
    fit = fit_rows(rows)
    counts = rows["pos_t"].fillna(NO_TAG).value_counts()
    assert fit.references["pos_t"] == counts.index[0]
    assert "size" not in fit.references
    assert any("size has one level" in n for n in fit.notes)
    assert NO_TAG in set(fit.coefficients["level"]) or fit.references["pos_t"] == NO_TAG


def test_cells_carry_exact_within_sums():
    rows = synthetic_rows(n_positions=50, n_comparisons=3)
    cells = aggregate_cells(rows)
    assert cells["n"].sum() == len(rows)
    r = rows.assign(pos_t=rows.pos_t.fillna(NO_TAG))
    one = cells.iloc[0]
    sel = r[
        (r.log_frequency == one.log_frequency)
        & (r.pos_t == one.pos_t)
        & (r.pos_prev == one.pos_prev)
        & (r["size"] == one["size"])
    ]["kl"]
    assert one.mean_kl == pytest.approx(sel.mean()) and one.ss_within == pytest.approx(((sel - sel.mean()) ** 2).sum())
    with pytest.raises(ValueError):
        fit_cells(cells.iloc[:0])


def test_fit_steps_shares_one_design_and_equals_per_step_fits():
    rows = pd.concat(
        [
            synthetic_rows(n_positions=120, n_comparisons=2, seed=s).assign(step=step)
            for s, step in ((3, 0), (4, 16), (5, 256))
        ],
        ignore_index=True,
    )
    # at step 256 the tag JJ never occurs: that step needs its own design
    rows = rows[~((rows["step"] == 256) & (rows["pos_t"] == "JJ"))]
    cells = pd.concat([aggregate_cells(g).assign(step=step) for step, g in rows.groupby("step")], ignore_index=True)
    fits = fit_steps(cells, size_order=SIZES)
    assert sorted(fits) == [0, 16, 256]
    for step, fit in fits.items():
        alone = fit_cells(cells[cells["step"] == step], size_order=SIZES)
        a = fit.coefficients.set_index("term")
        b = alone.coefficients.set_index("term")
        assert set(a.index) == set(b.index), step
        np.testing.assert_allclose(a.loc[b.index, "estimate"], b["estimate"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.loc[b.index, "se"], b["se"], rtol=1e-9)
        assert fit.r2 == pytest.approx(alone.r2, rel=1e-12) and fit.n == alone.n
    assert "pos_t[JJ]" not in set(fits[256].coefficients["term"])
    assert fit_steps(cells.iloc[:0]) == {}


def test_fit_from_moments_equals_row_level_fit():
    rows = synthetic_rows(n_positions=200, n_comparisons=3, seed=7)
    direct = fit_rows(rows, size_order=SIZES)
    moments = moments_from_rows(rows)
    assert len(moments) < len(aggregate_cells(rows))
    fit = fit_moments(moments, size_order=SIZES)
    assert fit.references == direct.references and fit.n == direct.n
    assert fit.method.startswith("exact OLS from sufficient statistics")
    a = fit.coefficients.set_index("term")
    b = direct.coefficients.set_index("term")
    assert set(a.index) == set(b.index)
    np.testing.assert_allclose(a.loc[b.index, "estimate"], b["estimate"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(a.loc[b.index, "se"], b["se"], rtol=1e-6)
    assert fit.r2 == pytest.approx(direct.r2, rel=1e-8)


def test_fit_moments_steps_equals_per_step_fits():
    rows = pd.concat(
        [
            synthetic_rows(n_positions=100, n_comparisons=2, seed=s).assign(step=step)
            for s, step in ((8, 0), (9, 16), (10, 256))
        ],
        ignore_index=True,
    )
    rows = rows[~((rows["step"] == 16) & (rows["pos_prev"] == "IN"))]  # a level absent at one step
    moments = pd.concat([moments_from_rows(g).assign(step=step) for step, g in rows.groupby("step")], ignore_index=True)
    fits = fit_moments_steps(moments, size_order=SIZES)
    assert sorted(fits) == [0, 16, 256]
    for step, fit in fits.items():
        direct = fit_rows(rows[rows["step"] == step], size_order=SIZES)
        a = fit.coefficients.set_index("term")
        b = direct.coefficients.set_index("term")
        assert set(a.index) == set(b.index), step
        np.testing.assert_allclose(a.loc[b.index, "estimate"], b["estimate"], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(a.loc[b.index, "se"], b["se"], rtol=1e-6)
    assert "pos_prev[IN]" not in set(fits[16].coefficients["term"])


def test_log10_row_is_the_same_fit_in_the_study_unit():
    from convdiv.analysis.regression import with_log10

    rng = np.random.default_rng(4)
    freq = rng.integers(1, 10_000, 400).astype(float)
    rows = pd.DataFrame(
        {
            "kl": 2.0 - 0.3 * np.log10(freq) + rng.normal(0, 0.1, 400),
            "log_frequency": np.log(freq),
            "pos_t": rng.choice(["NN", "DT"], 400),
            "pos_prev": "NN",
            "size": "m",
        }
    )
    fit = fit_rows(rows)
    table = with_log10(fit.coefficients).set_index("term")
    ols = sm.OLS(
        rows["kl"], sm.add_constant(np.column_stack([np.log10(freq), rows["pos_t"] == "DT"]).astype(float))
    ).fit()
    assert table.loc["log10_frequency", "estimate"] == pytest.approx(ols.params.iloc[1], rel=1e-9)
    assert table.loc["log10_frequency", "se"] == pytest.approx(ols.bse.iloc[1], rel=1e-9)
    assert table.loc["log10_frequency", "t"] == table.loc["log_frequency", "t"]
    assert table.loc["log_frequency", "estimate"] == pytest.approx(ols.params.iloc[1] / np.log(10), rel=1e-9)
    terms = list(table.index)
    assert terms.index("log10_frequency") + 1 == terms.index("log_frequency") and len(terms) == 4


def seed_pair_rows(seeds=(1, 2, 3, 4), n_positions=120, rng_seed=3) -> pd.DataFrame:
    """Row-level KL of every seed pair (two sizes, one step), with a seed effect so that pairs sharing a seed are
    correlated; the regressors depend on the position only."""
    rng = np.random.default_rng(rng_seed)
    pos_t = rng.choice(len(TAGS_T), n_positions)
    pos_prev = rng.choice(len(TAGS_PREV), n_positions)
    log_f = np.round(rng.uniform(0, 10, n_positions), 1)
    rows = []
    cid = 0
    for size in ("14m", "70m"):
        effect = {s: rng.normal(scale=0.3, size=n_positions) for s in seeds}
        for a, b in itertools.combinations(seeds, 2):
            cid += 1
            for i in range(n_positions):
                t, p = TAGS_T[pos_t[i]], TAGS_PREV[pos_prev[i]]
                kl = 1 - 0.05 * log_f[i] + BETA[t] + GAMMA[p] + DELTA[size] + effect[a][i] + effect[b][i]
                rows.append(
                    dict(
                        comparison_id=cid,
                        seed_a=a,
                        seed_b=b,
                        step=7,
                        position=i,
                        size=size,
                        pos_t=t,
                        pos_prev=p,
                        log_frequency=log_f[i],
                        kl=kl + rng.normal(scale=0.1),
                    )
                )
    return pd.DataFrame(rows)


def regression_sums(rows: pd.DataFrame) -> pd.DataFrame:
    """comparison_regression_sums' rows, from the row-level data."""
    d = rows.assign(lf_kl=rows["log_frequency"] * rows["kl"])
    keys = ["comparison_id", "seed_a", "seed_b", "size", "step"]
    return pd.concat(
        [
            d.groupby([*keys, f], dropna=False)
            .agg(n=("kl", "size"), sum_kl=("kl", "sum"), sum_lf_kl=("lf_kl", "sum"))
            .reset_index()
            .rename(columns={f: "level"})
            .assign(factor=f)
            for f in ("pos_t", "pos_prev")
        ],
        ignore_index=True,
    )


def test_seed_jackknife_equals_refits_without_each_seed():
    """The jackknife from the normal equations equals statsmodels refitted on the rows of the pairs without each
    seed, then Tukey's formula; the interval uses t with seeds - 1 df."""
    rows = seed_pair_rows()
    moments = moments_from_rows(rows).assign(step=7)
    fits = fit_moments_steps(moments, size_order=["14m", "70m"])
    got, why = seed_jackknife_steps(moments, regression_sums(rows), fits, size_order=["14m", "70m"])
    assert why == {}
    got = got.set_index("term")
    formula = (
        "kl ~ log_frequency + C(pos_t, Treatment('NN')) + C(pos_prev, Treatment('NN')) + C(size, Treatment('14m'))"
    )
    data = rows.assign(pos_t=rows["pos_t"].fillna(NO_TAG))
    loo = []
    for s in (1, 2, 3, 4):
        keep = data[(data["seed_a"] != s) & (data["seed_b"] != s)]
        loo.append(smf.ols(formula, data=keep).fit().params.to_numpy())
    loo = np.array(loo)
    se = np.sqrt(3 / 4 * ((loo - loo.mean(axis=0)) ** 2).sum(axis=0))
    full = smf.ols(formula, data=data).fit()
    names = [
        n.replace("Intercept", "intercept")
        .replace("C(pos_t, Treatment('NN'))[T.", "pos_t[")
        .replace("C(pos_prev, Treatment('NN'))[T.", "pos_prev[")
        .replace("C(size, Treatment('14m'))[T.", "size[")
        for n in full.params.index
    ]
    np.testing.assert_allclose(got.loc[names, "se"], se, rtol=1e-6)
    q = stats.t.ppf(0.975, 3)
    np.testing.assert_allclose(got.loc[names, "ci_low"], full.params.to_numpy() - q * se, rtol=1e-6, atol=1e-9)
    assert (got["n_seeds"] == 4).all() and (got["df"] == 3).all() and (got["n_comparisons"] == 12).all()
    # wider than the OLS interval over rows, which takes the 1,440 rows of 12 pairs as independent
    assert (got.loc[names, "se"].to_numpy() > full.bse.to_numpy()).mean() > 0.5


def test_seed_jackknife_needs_three_seeds_for_pairs():
    rows = seed_pair_rows(seeds=(1, 2))
    moments = moments_from_rows(rows).assign(step=7)
    fits = fit_moments_steps(moments)
    got, why = seed_jackknife_steps(moments, regression_sums(rows), fits)
    assert got.empty and "too few" in why[7]

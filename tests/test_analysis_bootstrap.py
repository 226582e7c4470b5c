"""Bootstrap over seeds, checked against a brute-force resample that duplicates the drawn runs."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from convdiv.analysis.bootstrap import expected_kl_intervals, regression_intervals, seed_counts

SEEDS = (1, 2, 3, 4)


def pair_frame(rng) -> pd.DataFrame:
    """Per seed pair: KL over all positions and two categories, seeds with their own offsets."""
    offset = {s: rng.uniform(0.5, 2.0) for s in SEEDS}
    rows = []
    for cid, (a, b) in enumerate(itertools.combinations(SEEDS, 2)):
        base = offset[a] * offset[b]
        for family, category, kl in (
            ("all", "all", base),
            ("pos_t", "NN", 1.5 * base * offset[a]),
            ("pos_t", "DT", 0.5 * base),
        ):
            rows.append(
                dict(
                    kind="seed_pair",
                    size="m",
                    step=10,
                    comparison_id=cid,
                    seed_a=a,
                    seed_b=b,
                    family=family,
                    category=category,
                    mean_kl=kl,
                )
            )
    return pd.DataFrame(rows)


def brute_force(frame: pd.DataFrame, counts: np.ndarray, category: str) -> tuple[float, float]:
    """E[KL] and E[KL | category] of the duplicated runs: every pair of copies of two different seeds."""
    copies = [s for s, c in zip(SEEDS, counts) for _ in range(c)]
    by_pair = frame.set_index(["seed_a", "seed_b", "category"])["mean_kl"]
    overall, cat = [], []
    for x, y in itertools.combinations(copies, 2):
        if x == y:
            continue
        a, b = min(x, y), max(x, y)
        overall.append(by_pair[(a, b, "all")])
        cat.append(by_pair[(a, b, category)])
    return float(np.mean(overall)), float(np.mean(cat))


def test_counts_always_leave_a_pair():
    counts = seed_counts(SEEDS, replicates=500, rng_seed=1)
    assert counts.shape == (500, 4) and (counts.sum(axis=1) == 4).all()
    assert ((counts > 0).sum(axis=1) >= 2).all()
    assert len({tuple(c) for c in counts}) > 20  # not one draw repeated


@pytest.mark.parametrize("rng_seed", [0, 3, 7])
def test_one_replicate_equals_the_duplicated_runs(rng_seed):
    frame = pair_frame(np.random.default_rng(rng_seed))
    counts = seed_counts(SEEDS, replicates=1, rng_seed=rng_seed)[0]
    got = expected_kl_intervals(frame, replicates=1, rng_seed=rng_seed).set_index("category")
    overall, nn = brute_force(frame, counts, "NN")
    assert got.loc["all", "boot_low"] == pytest.approx(overall, rel=1e-12)
    assert got.loc["NN", "boot_low"] == pytest.approx(nn, rel=1e-12)
    assert got.loc["NN", "sigma_low"] == pytest.approx(nn / overall, rel=1e-12)
    # the point estimates are the unweighted means over the six pairs, as the views compute them
    assert got.loc["all", "mean_kl"] == pytest.approx(frame[frame["family"] == "all"]["mean_kl"].mean())


def test_intervals_cover_the_estimate_and_flag_sigma_away_from_one():
    frame = pair_frame(np.random.default_rng(0))
    got = expected_kl_intervals(frame, replicates=300).set_index("category")
    for cat in ("all", "NN", "DT"):
        assert got.loc[cat, "boot_low"] <= got.loc[cat, "mean_kl"] <= got.loc[cat, "boot_high"]
    # DT is half the overall KL in every pair: sigma = 0.5 in every replicate, an interval of one point
    assert got.loc["DT", "sigma_low"] == pytest.approx(0.5) and got.loc["DT", "sigma_high"] == pytest.approx(0.5)
    assert bool(got.loc["DT", "sigma_excludes_1"])
    assert not bool(got.loc["all", "sigma_excludes_1"])


def test_sigma_per_pair_is_the_mean_of_each_pairs_ratio():
    frame = pair_frame(np.random.default_rng(1))
    got = expected_kl_intervals(frame, replicates=20).set_index("category")
    wide = frame.pivot_table(index="comparison_id", columns="category", values="mean_kl")
    assert got.loc["NN", "sigma_per_pair"] == pytest.approx((wide["NN"] / wide["all"]).mean(), rel=1e-12)
    assert got.loc["NN", "sigma"] == pytest.approx(wide["NN"].mean() / wide["all"].mean(), rel=1e-12)
    assert got.loc["NN", "sigma"] != pytest.approx(got.loc["NN", "sigma_per_pair"], rel=1e-6)


def test_two_seeds_give_no_interval():
    frame = pair_frame(np.random.default_rng(0))
    two = frame[(frame["seed_a"] == 1) & (frame["seed_b"] == 2)]
    got = expected_kl_intervals(two, replicates=50)
    assert got["boot_low"].isna().all() and got["n_seeds"].eq(2).all()


def regression_rows(rng) -> pd.DataFrame:
    """Row-level regression data for 4 seeds (6 pairs) x 2 sizes x 60 positions."""
    n_pos = 60
    lf = np.log(rng.integers(1, 500, n_pos).astype(float))
    pos_t = rng.choice(["NN", "DT", "JJ"], n_pos)
    pos_prev = rng.choice(["NN", "DT", "IN"], n_pos)
    rows = []
    cid = 0
    for size in ("s", "l"):
        for a, b in itertools.combinations(SEEDS, 2):
            kl = (
                1.0
                - 0.1 * lf
                + 0.3 * (pos_t == "JJ")
                + 0.2 * (size == "l")
                + 0.05 * (a + b)
                + rng.normal(0, 0.05, n_pos)
            )
            rows.append(
                pd.DataFrame(
                    dict(
                        comparison_id=cid,
                        seed_a=a,
                        seed_b=b,
                        step=5,
                        size=size,
                        log_frequency=lf,
                        pos_t=pos_t,
                        pos_prev=pos_prev,
                        kl=kl,
                    )
                )
            )
            cid += 1
    return pd.concat(rows, ignore_index=True)


def test_regression_replicate_equals_ols_on_duplicated_rows():
    rows = regression_rows(np.random.default_rng(5))
    lf, kl = rows["log_frequency"], rows["kl"]
    moments = (
        rows.assign(n=1.0, sum_lf=lf, sum_lf2=lf * lf, sum_kl=kl, sum_kl2=kl * kl, sum_lf_kl=lf * kl)
        .groupby(["comparison_id", "seed_a", "seed_b", "step", "size", "pos_t", "pos_prev"], as_index=False)[
            ["n", "sum_lf", "sum_lf2", "sum_kl", "sum_kl2", "sum_lf_kl"]
        ]
        .sum()
    )
    got = regression_intervals(moments, size_order=["s", "l"], replicates=1, rng_seed=11).set_index("term")
    counts = dict(zip(SEEDS, seed_counts(SEEDS, replicates=1, rng_seed=11)[0]))
    weight = rows["seed_a"].map(counts) * rows["seed_b"].map(counts)
    expanded = rows.loc[rows.index.repeat(weight)]
    ols = smf.ols(
        "kl ~ log_frequency + C(pos_t, Treatment('NN')) + C(pos_prev, Treatment('NN')) + C(size, Treatment('s'))",
        data=expanded,
    ).fit()
    assert got.loc["log_frequency", "boot_low"] == pytest.approx(ols.params["log_frequency"], rel=1e-9)
    assert got.loc["size[l]", "boot_low"] == pytest.approx(ols.params["C(size, Treatment('s'))[T.l]"], rel=1e-9)
    assert got.loc["pos_t[JJ]", "boot_low"] == pytest.approx(ols.params["C(pos_t, Treatment('NN'))[T.JJ]"], rel=1e-9)
    assert got.loc["intercept", "boot_low"] == pytest.approx(ols.params["Intercept"], rel=1e-9)


def test_regression_interval_contains_the_slope():
    rows = regression_rows(np.random.default_rng(2))
    lf, kl = rows["log_frequency"], rows["kl"]
    moments = (
        rows.assign(n=1.0, sum_lf=lf, sum_lf2=lf * lf, sum_kl=kl, sum_kl2=kl * kl, sum_lf_kl=lf * kl)
        .groupby(["comparison_id", "seed_a", "seed_b", "step", "size", "pos_t", "pos_prev"], as_index=False)[
            ["n", "sum_lf", "sum_lf2", "sum_kl", "sum_kl2", "sum_lf_kl"]
        ]
        .sum()
    )
    got = regression_intervals(moments, size_order=["s", "l"], replicates=200).set_index("term")
    assert got.loc["log_frequency", "boot_low"] < -0.1 < got.loc["log_frequency", "boot_high"]
    assert got.loc["log_frequency", "boot_high"] - got.loc["log_frequency", "boot_low"] < 0.02


def test_percentiles_equal_numpys_nanpercentile():
    from convdiv.analysis.bootstrap import _percentiles

    rng = np.random.default_rng(9)
    values = rng.normal(size=(57, 40))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[:, 3] = np.nan
    lo, hi = _percentiles(values, 0.95)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        ref = np.nanpercentile(values, [2.5, 97.5], axis=0)
    np.testing.assert_allclose(lo, ref[0], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(hi, ref[1], rtol=1e-12, equal_nan=True)

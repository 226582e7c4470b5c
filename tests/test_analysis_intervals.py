"""Intervals over seeds: the jackknife-t against scipy's t interval, a brute-force leave-one-seed-out loop, and its
coverage measured by simulation (the oracle a formula cannot fake); the bootstrap's coverage at the stated minimum."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from convdiv.analysis.bootstrap import expected_kl_intervals
from convdiv.analysis.intervals import (
    MIN_BOOTSTRAP_SEEDS,
    MIN_SIGMA_RATIO,
    jackknife_over_seeds,
    seed_intervals,
    sigma_marked,
)


def frame(values: dict[tuple[int, int], float], step: int = 0, extra: dict | None = None) -> pd.DataFrame:
    """Rows of one (kind, size, step) group: family 'all' per comparison (seed_a, seed_b), plus categories."""
    rows = []
    for cid, ((a, b), v) in enumerate(values.items()):
        rows.append(
            dict(
                kind="k",
                size="m",
                step=step,
                comparison_id=1000 * step + cid,
                seed_a=a,
                seed_b=b,
                family="all",
                category="all",
                mean_kl=v,
            )
        )
        for cat, vals in (extra or {}).items():
            rows.append(
                dict(
                    kind="k",
                    size="m",
                    step=step,
                    comparison_id=1000 * step + cid,
                    seed_a=a,
                    seed_b=b,
                    family="pos_t",
                    category=cat,
                    mean_kl=vals[(a, b)],
                )
            )
    return pd.DataFrame(rows)


def test_within_runs_the_interval_is_scipys_t_interval_over_seeds():
    rng = np.random.default_rng(0)
    v = rng.gamma(2.0, 0.3, 5)
    got = seed_intervals(frame({(s, s): float(x) for s, x in enumerate(v)}), scale="linear").iloc[0]
    low, high = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert got["n_seeds"] == 5 and got["df"] == 4 and got["n_comparisons"] == 5
    assert got["mean_kl"] == pytest.approx(v.mean())
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), rel=1e-12)


def brute_force(values: dict[tuple[int, int], float], cat: dict[tuple[int, int], float] | None = None, log=False):
    """Leave each seed out by hand; jackknife SE of the mean, of its log, or of the log of the ratio of means."""
    seeds = sorted({s for p in values for s in p})
    loo = []
    for s in seeds:
        keep = [p for p in values if s not in p]
        m = np.mean([values[p] for p in keep])
        loo.append(np.log(np.mean([cat[p] for p in keep]) / m) if cat else np.log(m) if log else m)
    loo = np.array(loo)
    n = len(seeds)
    return np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()), n - 1


def test_seed_pairs_match_a_leave_one_seed_out_loop_and_widen_the_naive_interval():
    rng = np.random.default_rng(1)
    pairs = list(itertools.combinations(range(5), 2))
    values = {p: float(rng.gamma(3.0, 0.2)) for p in pairs}
    nn = {p: values[p] * float(rng.uniform(1.2, 1.6)) for p in pairs}
    got = seed_intervals(frame(values, extra={"NN": nn})).set_index("category")
    se, df = brute_force(values)
    se_log, _ = brute_force(values, log=True)
    q = stats.t.ppf(0.975, df)
    mean = np.mean(list(values.values()))
    assert got.loc["all", "n_seeds"] == 5 and got.loc["all", "df"] == 4 and got.loc["all", "n_comparisons"] == 10
    assert got.loc["all", "se"] == pytest.approx(se, rel=1e-12)
    assert got.loc["all", "se_log"] == pytest.approx(se_log, rel=1e-12) and got.loc["all", "scale"] == "log"
    assert (got.loc["all", "ci_low"], got.loc["all", "ci_high"]) == pytest.approx(
        (mean * np.exp(-q * se_log), mean * np.exp(q * se_log)), rel=1e-12
    )
    linear = seed_intervals(frame(values), scale="linear").iloc[0]
    assert (linear["ci_low"], linear["ci_high"]) == pytest.approx((mean - q * se, mean + q * se), rel=1e-12)
    # sigma: the ratio of means, jackknifed on the log scale
    sigma = np.mean(list(nn.values())) / mean
    log_se, _ = brute_force(values, nn)
    assert got.loc["NN", "sigma"] == pytest.approx(sigma, rel=1e-12)
    assert got.loc["NN", "log_sigma_se"] == pytest.approx(log_se, rel=1e-12)
    assert got.loc["NN", "sigma_low"] == pytest.approx(sigma * np.exp(-q * log_se), rel=1e-12)
    assert np.isnan(got.loc["all", "sigma"])


def test_pure_seed_effects_give_exactly_twice_the_t_interval_of_the_seeds():
    """KL_ab = w_a + w_b: E[KL] = 2 mean(w), and the honest interval is twice the t interval of the w's (the naive
    interval over the 10 pairs, as if independent, is much narrower)."""
    w = np.array([0.3, 0.5, 0.45, 0.9, 0.2])
    values = {(a, b): w[a] + w[b] for a, b in itertools.combinations(range(5), 2)}
    got = seed_intervals(frame(values), scale="linear").iloc[0]
    low, high = stats.t.interval(0.95, 4, loc=w.mean(), scale=stats.sem(w))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((2 * low, 2 * high), rel=1e-12)
    v = np.array(list(values.values()))
    naive = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    assert got["ci_high"] - got["ci_low"] > 1.5 * (naive[1] - naive[0])


def test_too_few_seeds_give_no_interval():
    two = seed_intervals(frame({(1, 2): 0.4})).iloc[0]
    assert two["n_seeds"] == 2 and np.isnan(two["ci_low"]) and two["mean_kl"] == 0.4
    runs = seed_intervals(frame({(1, 1): 0.4, (2, 2): 0.5})).iloc[0]  # two runs: a t interval with 1 df
    assert runs["ci_low"] < 0.4 and runs["ci_high"] > 0.5
    one = seed_intervals(frame({(1, 1): 0.4})).iloc[0]
    assert np.isnan(one["ci_low"])
    # a run whose KL is exactly 0 (duplicated weights) leaves a mean of 0 without the other: linear scale there
    zero = seed_intervals(frame({(1, 1): 0.0, (2, 2): 0.0, (3, 3): 0.3})).iloc[0]
    assert zero["scale"] == "linear" and zero["ci_low"] < 0.1 < zero["ci_high"]


def simulate(n_seeds: int, model: str, reps: int, rng) -> pd.DataFrame:
    """``reps`` independent groups (one per step) of KL between seeds whose expectation is 1."""
    a, b = (np.array(x) for x in zip(*itertools.combinations(range(n_seeds), 2)))
    if model == "seed":
        u = rng.normal(0, 0.3, (reps, n_seeds))
        kl = 1 + u[:, a] + u[:, b]
    elif model == "pair":
        kl = 1 + rng.normal(0, 0.3, (reps, len(a)))
    else:  # KL as a squared distance between per-seed random vectors in 2 dimensions: seed and pair terms, skewed
        e = rng.normal(0, 1, (reps, n_seeds, 2))
        kl = ((e[:, a] - e[:, b]) ** 2).sum(axis=-1) / 4
    steps = np.repeat(np.arange(reps), len(a))
    return pd.DataFrame(
        dict(
            kind="k",
            size="m",
            step=steps,
            comparison_id=np.arange(kl.size),
            seed_a=np.tile(a, reps),
            seed_b=np.tile(b, reps),
            family="all",
            category="all",
            mean_kl=kl.ravel(),
        )
    )


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_coverage_by_simulation_is_at_least_nominal(n_seeds):
    rng = np.random.default_rng(n_seeds)
    coverage = {}
    for model in ("seed", "pair", "latent"):
        data = simulate(n_seeds, model, 1500, rng)
        for scale in ("log", "linear"):
            got = seed_intervals(data, scale=scale)
            coverage[model, scale] = float(((got["ci_low"] <= 1) & (got["ci_high"] >= 1)).mean())
    # binomial SD of a share near 0.95 over 1,500 groups: 0.006. Linear: exact under additive seed effects,
    # conservative with independent pairs, short of nominal for skewed KL; the log scale (the report's) covers all.
    assert 0.93 <= coverage["seed", "linear"] <= 0.97, coverage
    assert coverage["pair", "linear"] >= 0.96, coverage
    assert coverage["latent", "linear"] < 0.935, coverage
    for model in ("seed", "pair", "latent"):
        assert coverage[model, "log"] >= 0.94, coverage


def test_sigma_is_marked_only_when_its_interval_excludes_one_and_the_effect_is_large():
    sigma = np.array([1.5, 1.05, 1.5, 0.8, 0.99 / MIN_SIGMA_RATIO])
    low = np.array([1.2, 1.01, 0.9, 0.7, 0.85])
    high = np.array([1.9, 1.09, 2.0, 0.95, 0.95])
    assert list(sigma_marked(sigma, low, high)) == [True, False, False, True, True]
    assert not sigma_marked(np.array([np.nan]), np.array([np.nan]), np.array([np.nan]))[0]


def test_jackknife_over_seeds_of_a_mean_is_the_t_interval():
    x = pd.Series([0.2, 0.5, 0.4, 0.9], index=[1, 2, 3, 4])
    loo = pd.DataFrame({"mean": [x.drop(s).mean() for s in x.index]}, index=x.index)
    got = jackknife_over_seeds(loo, pd.Series({"mean": x.mean()})).loc["mean"]
    low, high = stats.t.interval(0.95, 3, loc=x.mean(), scale=stats.sem(x))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((low, high), rel=1e-12)


def bootstrap_coverage(n_seeds: int, reps: int, rng) -> float:
    data = simulate(n_seeds, "seed", reps, rng)
    got = expected_kl_intervals(data, replicates=200, min_seeds=3)
    got = got[got["family"] == "all"]
    return float(((got["boot_low"] <= 1) & (got["boot_high"] >= 1)).mean())


def test_the_percentile_bootstrap_is_drawn_only_where_it_covers():
    """At MIN_BOOTSTRAP_SEEDS seeds the percentile bootstrap over seeds covers about 0.9 or more; at 5 seeds it
    covers far less than its nominal 95% (why the report draws it only from the minimum on)."""
    rng = np.random.default_rng(5)
    assert bootstrap_coverage(5, 400, rng) < 0.88
    assert bootstrap_coverage(MIN_BOOTSTRAP_SEEDS, 300, rng) >= 0.89

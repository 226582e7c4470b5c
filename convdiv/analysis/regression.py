"""Per-step regression of divergence on token features (the study's sec. 5 regression, with proper coding).

For one step (and comparison kind) the model over (comparison, position) rows is

    KL = mu + alpha * log_frequency + sum_p beta_p [POS(t) = p] + sum_p gamma_p [POS(t-1) = p]
            + sum_m delta_m [size = m] + eps,

fitted by OLS with the statsmodels formula API. The study's version kept a dummy for every level next to the
intercept, which makes the design collinear; here each factor has a reference level whose coefficient is 0 by
construction (treatment coding): POS(t) and POS(t-1) against 'NN' (the most frequent tag in English text; 'NOUN'
in a corpus tagged with Universal POS; the most frequent level when neither is present) and size against the smallest size. Positions with no tag (whitespace, special
tokens) keep their own level 'NONE' rather than being dropped. Factors with a single level are left out.

Large inputs (a paper-scale step has ~10 seed pairs x 5 sizes x 4,662 positions ~ 233k rows) are fitted on an
*aggregated design matrix*, exactly: rows with identical regressors (log_frequency, POS(t), POS(t-1), size) form a
cell with count n_c, mean KL ybar_c and within-cell sum of squares W_c. Weighted least squares of ybar_c on the
cell's regressors with weights n_c gives the same coefficients as OLS on the rows, and with

    SSE = sum_c W_c + sum_c n_c (ybar_c - yhat_c)^2,    SST = sum_c W_c + sum_c n_c (ybar_c - ybar)^2,

sigma^2 = SSE / (N - p), Cov(beta) = sigma^2 (X' N X)^-1, R^2 = 1 - SSE / SST, so standard errors, intervals and R^2
equal those of the row-level OLS too (no sampling, no approximation beyond floating point).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

from convdiv.analysis.intervals import jackknife_over_seeds

NO_TAG = "NONE"
PREFERRED_POS_REFERENCES = ("NN", "NOUN")  # PTB's common noun, then UPOS's (corpus add --tagset upos)
FACTORS = ("pos_t", "pos_prev", "size")
CELL_KEYS = ("log_frequency", "pos_t", "pos_prev", "size")
_TERM = re.compile(r"^C\((\w+),.*\)\[T\.(.*)\]$", re.S)


@dataclass
class RegressionFit:
    """One step's fit. ``coefficients``: term, factor, level, estimate, se, t, p, ci_low, ci_high."""

    n: int  # rows (comparison x position) the fit stands for
    n_cells: int  # rows of the aggregated design matrix actually passed to statsmodels
    n_params: int
    rank: int
    r2: float
    adj_r2: float
    sigma: float
    references: dict[str, str]
    coefficients: pd.DataFrame
    method: str
    notes: list[str] = field(default_factory=list)

    def coefficient(self, factor: str, level: str | None = None) -> pd.Series:
        c = self.coefficients
        mask = c["factor"] == factor
        if level is not None:
            mask &= c["level"] == level
        rows = c[mask]
        if len(rows) != 1:
            raise KeyError(f"no single coefficient for {factor}={level}")
        return rows.iloc[0]


def aggregate_cells(rows: pd.DataFrame, y: str = "kl") -> pd.DataFrame:
    """Collapse row-level data (columns CELL_KEYS + ``y``) to cells: n, mean_kl, ss_within (float64)."""
    df = rows.copy()
    for col in ("pos_t", "pos_prev"):
        df[col] = df[col].fillna(NO_TAG).astype(str)
    df["size"] = df["size"].astype(str)
    yy = df[y].astype(float)
    df["_y"] = yy
    g = df.groupby(list(CELL_KEYS), sort=False, dropna=False)["_y"]
    out = g.agg(n="count", mean_kl="mean").reset_index()
    # Within-cell SS computed around the cell mean (not sum y^2 - n ybar^2, which cancels for tiny KL).
    dev = yy - g.transform("mean")
    out["ss_within"] = (dev * dev).groupby([df[k] for k in CELL_KEYS], sort=False, dropna=False).sum().to_numpy()
    return out


def _reference(levels: pd.Series, weights: pd.Series, preferred: Sequence[str]) -> str:
    for level in preferred:
        if (levels == level).any():
            return level
    return str(weights.groupby(levels).sum().sort_values(ascending=False, kind="stable").index[0])


def _prepare(cells: pd.DataFrame) -> pd.DataFrame:
    df = cells[cells["n"] > 0].copy()
    for col in ("pos_t", "pos_prev"):
        df[col] = df[col].fillna(NO_TAG).astype(str)
    df["size"] = df["size"].astype(str)
    df["log_frequency"] = df["log_frequency"].astype(float)
    df["mean_kl"] = df["mean_kl"].astype(float)
    df["n"] = df["n"].astype(float)
    df["ss_within"] = df["ss_within"].astype(float).fillna(0.0)
    return df


def _formula(df: pd.DataFrame, size_order: Sequence[str] | None) -> tuple[str, dict[str, str], list[str]]:
    """The model formula with treatment coding, its reference levels and notes on terms left out."""
    notes: list[str] = []
    references: dict[str, str] = {}
    terms = []
    if df["log_frequency"].nunique() > 1:
        terms.append("log_frequency")
    else:
        notes.append("log_frequency is constant: left out")
    for factor in FACTORS:
        levels = df[factor]
        if levels.nunique() < 2:
            notes.append(f"{factor} has one level ({levels.iloc[0]}): left out")
            continue
        if factor == "size":
            present = set(levels)
            order = [s for s in (size_order or sorted(present)) if s in present]
            ref = order[0] if order else sorted(present)[0]
        else:
            ref = _reference(levels, df["n"], PREFERRED_POS_REFERENCES)
        references[factor] = ref
        terms.append(f"C({factor}, Treatment(reference={ref!r}))")
    return "mean_kl ~ " + (" + ".join(terms) if terms else "1"), references, notes


def _design(df: pd.DataFrame, formula: str) -> tuple[np.ndarray, list[str]]:
    """The design matrix of ``formula`` on ``df``'s rows, built by the statsmodels formula API (rows kept 1:1)."""
    model = smf.wls(formula, data=df, weights=df["n"])
    X = np.asarray(model.exog, dtype=float)
    if len(X) != len(df):
        raise ValueError("the formula dropped rows (missing values in the regressors)")
    return X, list(model.exog_names)


def _solve(
    X: np.ndarray, names: list[str], df: pd.DataFrame, references: dict[str, str], notes: list[str], level: float
) -> RegressionFit:
    # The solve uses the normal equations of the weighted cells (X'NX is p x p, ~100 x 100): at paper scale
    # statsmodels' SVD of the cells x p matrix took ~1.4 s per step on 2 cores, the p x p solve milliseconds.
    # pinv (symmetric) handles rank deficiency as statsmodels' default does.
    y = df["mean_kl"].to_numpy(dtype=float)
    w = df["n"].to_numpy(dtype=float)
    xtwx = X.T @ (X * w[:, None])
    xtwx_inv = np.linalg.pinv(xtwx, hermitian=True)
    est = xtwx_inv @ (X.T @ (w * y))
    n_total = float(w.sum())
    fitted = X @ est
    ybar = float(np.average(y, weights=w))
    w_total = float(df["ss_within"].sum())
    # Residual sums around the cell means plus within-cell sums: no cancellation even for KL ~ 1e-6.
    sse = w_total + float(np.sum(w * (y - fitted) ** 2))
    sst = w_total + float(np.sum(w * (y - ybar) ** 2))
    method = (
        f"exact OLS on an aggregated design matrix ({int(n_total):,} rows in {len(df):,} cells)"
        if len(df) < n_total
        else f"OLS on {int(n_total):,} rows"
    )
    return _finish(names, xtwx, xtwx_inv, est, sse, sst, n_total, len(df), references, notes, level, method)


def term_parts(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(factor, level) of each design column name: 'C(pos_t, Treatment(...))[T.JJ]' -> ('pos_t', 'JJ')."""
    factors, levels_ = [], []
    for name in names:
        m = _TERM.match(name)
        if m:
            factors.append(m.group(1))
            levels_.append(m.group(2))
        elif name == "Intercept":
            factors.append("intercept")
            levels_.append("")
        else:
            factors.append(name)
            levels_.append("")
    return factors, levels_


def term_names(names: Sequence[str]) -> list[str]:
    """The coefficient table's term of each design column name (e.g. 'pos_t[JJ]')."""
    return [f"{f}[{l}]" if l else f for f, l in zip(*term_parts(names))]


def _finish(
    names: list[str],
    xtx: np.ndarray,
    xtx_inv: np.ndarray,
    est: np.ndarray,
    sse: float,
    sst: float,
    n_total: float,
    n_cells: int,
    references: dict[str, str],
    notes: list[str],
    level: float,
    method: str,
) -> RegressionFit:
    """Standard errors, t, p, intervals and R^2 from the normal equations' pieces."""
    p = len(names)
    rank = int(np.linalg.matrix_rank(xtx, hermitian=True))
    df_resid = n_total - rank
    if df_resid <= 0:
        raise ValueError(f"{int(n_total)} rows cannot identify {rank} parameters")
    scale = max(sse, 0.0) / df_resid
    se = np.sqrt(np.clip(np.diag(xtx_inv) * scale, 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = est / se
    pval = 2 * stats.t.sf(np.abs(tval), df_resid)
    q = stats.t.ppf(0.5 + level / 2, df_resid)
    notes = list(notes)
    if rank < p:
        notes.append(f"design is rank deficient ({rank} < {p} parameters): some levels are confounded")

    factors, levels_ = term_parts(names)
    coefs = pd.DataFrame(
        {
            "term": [f"{f}[{l}]" if l else f for f, l in zip(factors, levels_)],
            "factor": factors,
            "level": levels_,
            "estimate": est,
            "se": se,
            "t": tval,
            "p": pval,
            "ci_low": est - q * se,
            "ci_high": est + q * se,
        }
    )
    r2 = 1 - sse / sst if sst > 0 else float("nan")
    adj = 1 - (1 - r2) * (n_total - 1) / df_resid if sst > 0 else float("nan")
    return RegressionFit(
        n=int(n_total),
        n_cells=n_cells,
        n_params=p,
        rank=rank,
        r2=float(r2),
        adj_r2=float(adj),
        sigma=float(np.sqrt(scale)),
        references=references,
        coefficients=coefs,
        method=method,
        notes=notes,
    )


def fit_cells(
    cells: pd.DataFrame,
    size_order: Sequence[str] | None = None,
    level: float = 0.95,
) -> RegressionFit:
    """Exact OLS from cells (columns CELL_KEYS, n, mean_kl, ss_within); see the module docstring.

    ``size_order``: sizes smallest first (the reference is the first present); default: sorted labels.
    """
    df = _prepare(cells)
    if df.empty:
        raise ValueError("no rows to fit")
    formula, references, notes = _formula(df, size_order)
    X, names = _design(df, formula)
    return _solve(X, names, df, references, notes, level)


def fit_steps(
    cells: pd.DataFrame,
    size_order: Sequence[str] | None = None,
    by: str = "step",
    level: float = 0.95,
) -> dict:
    """:func:`fit_cells` for every value of ``by`` (the step), with one design for all of them.

    The formula API evaluates its design value by value in Python (~0.6 s for a paper-scale step), and the
    steps share their regressor combinations, so the design is built once on the distinct combinations and each
    step takes its rows. Reference levels are chosen once over all steps. A step where a level is absent or
    where the shared coding would be confounded gets its own design (fit_cells), so each result equals
    fit_cells on that step alone whenever the references agree. Steps without enough rows are left out.
    """
    df = _prepare(cells)
    if df.empty:
        return {}
    formula, references, notes = _formula(df, size_order)
    keys = list(CELL_KEYS)
    combos = df[keys].drop_duplicates().reset_index(drop=True)
    X_all, names = _design(combos.assign(mean_kl=0.0, n=1.0), formula)
    row = pd.Series(np.arange(len(combos)), index=pd.MultiIndex.from_frame(combos))
    out = {}
    factors = list(references)
    levels_per_step = df.groupby(by)[factors + ["log_frequency"]].nunique() if factors else None
    levels_all = {f: df[f].nunique() for f in factors}
    for value, g in df.groupby(by, sort=True):
        X = X_all[row.loc[pd.MultiIndex.from_frame(g[keys])].to_numpy()]
        local = levels_per_step.loc[value] if levels_per_step is not None else None
        local_ok = local is None or (
            all(local[f] == levels_all[f] for f in factors)
            and ("log_frequency" not in names or local["log_frequency"] > 1)
        )
        try:
            if local_ok:
                fit = _solve(X, names, g, references, notes, level)
                if fit.rank == fit.n_params:
                    out[value] = fit
                    continue
            out[value] = fit_cells(g, size_order=size_order, level=level)
        except ValueError:
            continue
    return out


LN10 = float(np.log(10.0))


def with_log10(coefficients: pd.DataFrame) -> pd.DataFrame:
    """The coefficient table with a 'log10_frequency' row next to 'log_frequency' (ln), as the study used log10.

    log10(f) = ln(f) / ln(10), so the slope per log10 unit is ln(10) ~ 2.303 times the slope per ln unit, with the
    standard error and interval scaled alike and t, p and every other coefficient unchanged: one fit, two units.
    """
    lf = coefficients[coefficients["factor"] == "log_frequency"]
    if lf.empty:
        return coefficients
    scaled = lf.assign(
        term="log10_frequency",
        factor="log10_frequency",
        **{
            c: lf[c] * LN10
            for c in ("estimate", "se", "se_ols", "ci_low", "ci_high", "boot_low", "boot_high")
            if c in lf
        },
    )
    at = coefficients.index.get_loc(lf.index[0])
    return pd.concat([coefficients.iloc[:at], scaled, coefficients.iloc[at:]], ignore_index=True)


def fit_rows(rows: pd.DataFrame, size_order: Sequence[str] | None = None, y: str = "kl") -> RegressionFit:
    """The same fit from row-level data (aggregated first; identical results to the cell form)."""
    return fit_cells(aggregate_cells(rows, y=y), size_order=size_order)


MOMENT_COLUMNS = ("n", "sum_lf", "sum_lf2", "sum_kl", "sum_kl2", "sum_lf_kl")


def _prepare_moments(moments: pd.DataFrame) -> pd.DataFrame:
    df = moments[moments["n"] > 0].copy()
    for col in ("pos_t", "pos_prev"):
        df[col] = df[col].fillna(NO_TAG).astype(str)
    df["size"] = df["size"].astype(str)
    for col in MOMENT_COLUMNS:
        df[col] = df[col].astype(float)
    return df


def _moments_design(df: pd.DataFrame, size_order: Sequence[str] | None):
    """Formula, references, notes and whether log frequency varies, from the moments rows."""
    lf_mean = df["sum_lf"] / df["n"]
    lf_var = float((df["sum_lf2"] - df["sum_lf"] ** 2 / df["n"]).sum())
    varies = bool(lf_var > 1e-12 * max(1.0, float(df["sum_lf2"].sum())) or lf_mean.nunique() > 1)
    # _formula decides terms and references from a frame; a stand-in log_frequency column keeps (or drops) the
    # term, whose design column is then built from the moments instead.
    probe = df.assign(log_frequency=np.arange(len(df), dtype=float) if varies else 0.0, mean_kl=0.0)
    formula, references, notes = _formula(probe, size_order)
    formula = formula.replace("log_frequency + ", "").replace("~ log_frequency", "~ 1")
    return formula, references, notes, varies


def _column_names(d_names: list[str], varies: bool) -> list[str]:
    """The fit's column names: the formula's, with log_frequency after the intercept when it varies."""
    return [d_names[0], "log_frequency", *d_names[1:]] if varies else list(d_names)


def _normal_equations(
    df: pd.DataFrame, D: np.ndarray, d_names: list[str], varies: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """X'X, X'y and the column names of the moments rows ``df`` whose indicator rows are ``D``."""
    n = df["n"].to_numpy()
    xtx_d = D.T @ (D * n[:, None])
    xty_d = D.T @ df["sum_kl"].to_numpy()
    if not varies:
        return xtx_d, xty_d, list(d_names)
    q = len(d_names)
    cross = D.T @ df["sum_lf"].to_numpy()
    full = np.zeros((q + 1, q + 1))
    full[:q, :q] = xtx_d
    full[:q, q] = cross
    full[q, :q] = cross
    full[q, q] = df["sum_lf2"].sum()
    order = [0, q] + list(range(1, q))  # Intercept, log_frequency, then the indicators
    xty = np.append(xty_d, df["sum_lf_kl"].sum())[order]
    return full[np.ix_(order, order)], xty, _column_names(d_names, varies)


@dataclass(frozen=True)
class Design:
    """A moments fit's design: indicator rows D (one per moments row), their column names, whether
    log_frequency enters, the reference levels and notes on terms left out."""

    D: np.ndarray
    d_names: list[str]
    varies: bool
    references: dict[str, str]
    notes: list[str]


def _solve_moments(df: pd.DataFrame, design: Design, level: float) -> RegressionFit:
    references, notes = design.references, design.notes
    xtx, xty, names = _normal_equations(df, design.D, design.d_names, design.varies)
    xtx_inv = np.linalg.pinv(xtx, hermitian=True)
    est = xtx_inv @ xty
    yty = float(df["sum_kl2"].sum())
    n_total = float(df["n"].sum())
    sse = yty - 2 * float(est @ xty) + float(est @ xtx @ est)
    sst = yty - float(df["sum_kl"].sum()) ** 2 / n_total
    method = (
        f"exact OLS from sufficient statistics (X'X, X'y) of {int(n_total):,} rows in {len(df):,} "
        "(size, POS(t), POS(t-1)) groups"
    )
    return _finish(names, xtx, xtx_inv, est, sse, sst, n_total, len(df), references, notes, level, method)


def _local_design(g: pd.DataFrame, size_order: Sequence[str] | None) -> Design:
    """The design of one step's moments rows on their own."""
    formula, references, notes, varies = _moments_design(g, size_order)
    D, d_names = _design(g.assign(mean_kl=0.0), formula)
    return Design(D, d_names, varies, references, notes)


def fit_moments(moments: pd.DataFrame, size_order: Sequence[str] | None = None, level: float = 0.95) -> RegressionFit:
    """The same OLS from sufficient statistics per (size, POS(t), POS(t-1)) group (the regression_moments view).

    Within a group every regressor but log frequency is constant, so with the group's indicator row d_g (built by
    the formula API), count n_g and sums of lf, lf^2, kl, kl^2 and lf * kl over its rows:

        X'X = sum_g [[n_g d_g d_g', d_g S_lf], [S_lf d_g', S_lf2]],   X'y = sum_g [d_g S_kl; S_lf_kl],
        y'y = sum_g S_kl2,   SSE = y'y - 2 b'X'y + b'X'X b,   SST = y'y - N ybar^2.

    (SSE by this identity loses digits only when the residuals are tiny next to KL itself; fit_cells avoids that.)
    """
    df = _prepare_moments(moments)
    if df.empty:
        raise ValueError("no rows to fit")
    return _solve_moments(df, _local_design(df, size_order), level)


def _step_designs(df: pd.DataFrame, size_order: Sequence[str] | None, by: str):
    """(step, its moments rows, the shared design's pieces or None): one formula design for all steps; a step
    missing a level of a factor gets None (its own design, _local_design)."""
    formula, references, notes, varies = _moments_design(df, size_order)
    keys = ["size", "pos_t", "pos_prev"]
    combos = df[keys].drop_duplicates().reset_index(drop=True)
    D_all, d_names = _design(combos.assign(mean_kl=0.0, n=1.0), formula)
    row = pd.Series(np.arange(len(combos)), index=pd.MultiIndex.from_frame(combos))
    factors = list(references)
    local_levels = df.groupby(by)[factors].nunique() if factors else None
    all_levels = {f: df[f].nunique() for f in factors}
    for value, g in df.groupby(by, sort=True):
        same = local_levels is None or all(local_levels.loc[value, f] == all_levels[f] for f in factors)
        if same:
            D = D_all[row.loc[pd.MultiIndex.from_frame(g[keys])].to_numpy()]
            yield value, g, Design(D, d_names, varies, references, notes)
        else:
            yield value, g, None


def fit_moments_steps(
    moments: pd.DataFrame,
    size_order: Sequence[str] | None = None,
    by: str = "step",
    level: float = 0.95,
    designs: dict | None = None,
) -> dict:
    """:func:`fit_moments` per step with one formula design for all steps (as :func:`fit_steps` does for cells).

    A step missing a level of a factor, or without log-frequency variation, gets its own design. ``designs``, when
    given, receives each fitted step's (moments rows, Design) for :func:`seed_jackknife_steps`.
    """
    df = _prepare_moments(moments)
    if df.empty:
        return {}
    out = {}
    for value, g, shared in _step_designs(df, size_order, by):
        g = g.reset_index(drop=True)
        try:
            fit = _solve_moments(g, shared, level) if shared is not None else None
            if fit is None or fit.rank < fit.n_params:
                shared = _local_design(g, size_order)
                fit = _solve_moments(g, shared, level)
        except ValueError:
            continue
        out[value] = fit
        if designs is not None:
            designs[value] = (g, shared)
    return out


JACKKNIFE_COLUMNS = ("step", "term", "se", "df", "t", "p", "ci_low", "ci_high", "n_seeds", "n_comparisons")


def _comparison_xty(sums: pd.DataFrame, names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Per comparison (rows of comparison_regression_sums at one step), its X'y in the columns ``names``:
    (comparisons x columns matrix, the comparisons' id, seeds, size and n)."""
    pos_t = sums[sums["factor"] == "pos_t"]
    comps = (
        pos_t.groupby("comparison_id", sort=True)
        .agg(
            seed_a=("seed_a", "first"),
            seed_b=("seed_b", "first"),
            size=("size", "first"),
            n=("n", "sum"),
            sum_kl=("sum_kl", "sum"),
            sum_lf_kl=("sum_lf_kl", "sum"),
        )
        .reset_index()
    )
    comps["size"] = comps["size"].astype(str)
    out = np.zeros((len(comps), len(names)))
    column = {term: j for j, term in enumerate(term_names(names))}
    for j, (factor, level) in enumerate(zip(*term_parts(names))):
        if factor == "intercept":
            out[:, j] = comps["sum_kl"]
        elif factor == "log_frequency":
            out[:, j] = comps["sum_lf_kl"]
        elif factor == "size":
            out[:, j] = np.where(comps["size"] == level, comps["sum_kl"], 0.0)
    # the indicator columns of POS(t) and POS(t-1): each row's sum into its comparison's row and its tag's column
    tags = sums[sums["factor"].isin(("pos_t", "pos_prev"))]
    terms = tags["factor"] + "[" + tags["level"].fillna(NO_TAG).astype(str) + "]"
    cols = terms.map(column)
    keep = cols.notna().to_numpy()  # reference levels have no column
    rows = np.searchsorted(comps["comparison_id"].to_numpy(), tags["comparison_id"].to_numpy()[keep])
    np.add.at(out, (rows, cols[keep].astype(int).to_numpy()), tags["sum_kl"].to_numpy(float)[keep])
    return out, comps


def _jackknife_step(
    g: pd.DataFrame, design: Design, fit: RegressionFit, sums: pd.DataFrame, level: float
) -> tuple[pd.DataFrame | None, str]:
    """One step's leave-one-seed-out refits, or (None, why not)."""
    D, d_names, varies = design.D, design.d_names, design.varies
    names = _column_names(d_names, varies)
    if term_names(names) != list(fit.coefficients["term"]):
        return None, "the interval's design differs from the fit's"
    C, comps = _comparison_xty(sums, names)
    seeds = sorted(set(comps["seed_a"]) | set(comps["seed_b"]))
    pairs = bool((comps["seed_a"] != comps["seed_b"]).any())
    if len(seeds) < (3 if pairs else 2):
        return None, f"{len(seeds)} seed(s): too few for an interval over seeds"
    # Every comparison of a size covers the same positions, so one comparison's X'X is the size's / its count.
    per_size, xtx, xty = {}, np.zeros((len(names), len(names))), np.zeros(len(names))
    for size, gs in g.groupby("size"):
        n_comp = int((comps["size"] == size).sum())
        if n_comp == 0 or not np.allclose(comps.loc[comps["size"] == size, "n"], gs["n"].sum() / n_comp):
            return None, f"size {size}: its comparisons do not cover the same positions"
        xtx_m, xty_m, _ = _normal_equations(gs, D[g.index.get_indexer(gs.index)], d_names, varies)
        per_size[size] = xtx_m / n_comp
        xtx += xtx_m
        xty += xty_m
    if not np.allclose(C.sum(axis=0), xty, rtol=1e-6, atol=1e-9):
        return None, "the per-comparison sums do not add up to the fit's (an ingest in progress?)"
    rows = {}
    for seed in seeds:
        involved = ((comps["seed_a"] == seed) | (comps["seed_b"] == seed)).to_numpy()
        xtx_s = xtx - sum(per_size[m] * int(((comps["size"] == m).to_numpy() & involved).sum()) for m in per_size)
        if np.linalg.matrix_rank(xtx_s, hermitian=True) < len(names):
            return None, f"without seed {seed} a level of a factor has no rows"
        rows[seed] = np.linalg.solve(xtx_s, xty - C[involved].sum(axis=0))
    loo = pd.DataFrame.from_dict(rows, orient="index", columns=fit.coefficients["term"].tolist())
    jk = jackknife_over_seeds(loo, fit.coefficients.set_index("term")["estimate"], level=level)
    with np.errstate(divide="ignore", invalid="ignore"):
        jk["t"] = jk["estimate"] / jk["se"]
    jk["p"] = 2 * stats.t.sf(np.abs(jk["t"]), jk["df"])
    return jk.assign(n_seeds=len(seeds), n_comparisons=len(comps)).rename_axis("term").reset_index(), ""


def seed_jackknife_steps(
    moments: pd.DataFrame,
    sums: pd.DataFrame,
    fits: dict,
    size_order: Sequence[str] | None = None,
    by: str = "step",
    level: float = 0.95,
    designs: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Leave-one-seed-out jackknife-t intervals of every coefficient of :func:`fit_moments_steps`' fits.

    For each seed s the normal equations lose the comparisons that involve s: X'y loses their sums
    (``sums``: the comparison_regression_sums view's rows), X'X loses, per size, their share of the size's X'X
    (every comparison of a size and step covers the same positions). The coefficients refitted without each seed
    give the jackknife SE, with seeds - 1 degrees of freedom (analysis.intervals): an interval that treats the
    seed, not the (comparison, position) row, as the unit of replication, so positions within a pair and pairs
    sharing a seed count as dependent. ``designs``: what fit_moments_steps(designs=...) filled (else rebuilt).
    Returns (rows of JACKKNIFE_COLUMNS, {step: why no interval}).
    """
    out: list[pd.DataFrame] = []
    why: dict = {}
    if designs is None:
        designs = {}
        fit_moments_steps(moments, size_order, by, level, designs=designs)
    sums_by_step = dict(tuple(sums.groupby(by))) if not sums.empty else {}
    for value, fit in fits.items():
        if value not in designs:
            why[value] = "no design"
            continue
        if value not in sums_by_step:
            why[value] = "no per-comparison sums"
            continue
        g, design = designs[value]
        jk, reason = _jackknife_step(g, design, fit, sums_by_step[value], level)
        if jk is None:
            why[value] = reason
            continue
        out.append(jk.assign(**{by: value}))
    if not out:
        return pd.DataFrame(columns=list(JACKKNIFE_COLUMNS)), why
    return pd.concat(out, ignore_index=True)[list(JACKKNIFE_COLUMNS)], why


def moments_from_rows(rows: pd.DataFrame, y: str = "kl") -> pd.DataFrame:
    """The regression_moments statistics of row-level data (for tests and small inputs)."""
    df = rows.copy()
    for col in ("pos_t", "pos_prev"):
        df[col] = df[col].fillna(NO_TAG).astype(str)
    lf = df["log_frequency"].astype(float)
    kl = df[y].astype(float)
    df = df.assign(n=1.0, sum_lf=lf, sum_lf2=lf * lf, sum_kl=kl, sum_kl2=kl * kl, sum_lf_kl=lf * kl)
    return df.groupby(["size", "pos_t", "pos_prev"], as_index=False)[list(MOMENT_COLUMNS)].sum()

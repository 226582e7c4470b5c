"""Overview: what the warehouse holds for this suite and corpus, where it came from, and what is wrong with it."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from convdiv import __version__
from convdiv.report.data import ReportData
from convdiv.report.figures import base_layout
from convdiv.report.model import Figure, Missing, Section, Table
from convdiv.warehouse import names

KEY = "overview"
TITLE = "Overview"
GUIDE = (
    "Which checkpoints of the suite have measurements on this corpus. Each cell of the grid is one model size at "
    "one training step; its colour and number give how many seeds were ingested there, out of the seeds the suite "
    "has. Grey cells or low numbers mean missing checkpoints: every curve below averages only what is present. "
    "The provenance table lists each ingest run (convdiv version, host, devices, dates); the warnings list "
    "missing checkpoints and runs whose weights are identical at two different steps (a known problem of some "
    "hub branches, which makes a consecutive-step KL exactly zero)."
)


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def single_run_notes(n_seeds: int, n_sizes: int) -> list[str]:
    """What a suite with one seed or one size cannot show, and what the other sections show instead."""
    notes = []
    if n_seeds < 2:
        notes.append(
            "single-seed suite: Expected convergence and Earlier divergence, later stability need at least 2 seeds "
            "(seed pairs) and are left out; the category sections show consecutive-step comparisons within the run, "
            "without intervals (an interval over seeds needs at least 2 seeds); cross-entropy, the reference KLs, "
            "learnability and the phase boundaries read off the reference curves (end of the uniform phase, step "
            "closest to the unigram) need no seed pairs"
        )
    if n_sizes == 1:
        notes.append(
            "one size in this report: nothing compares sizes (cross-size comparisons and the regression's size term need "
            "at least 2 sizes); every section shows the one size"
        )
    return notes


def frequency_source(source: str | None) -> str:
    """Where the frequency bins' counts and the unigram reference come from (corpus_summary.frequency_source)."""
    if source is None:
        return "?"
    if source == "self":
        return (
            "the evaluation text itself (self): each token's count over this corpus's own token sequences (the "
            "study's counts are over the Pile validation split, pile_validation_unigram_counts.npy)"
        )
    return source


def ingest_span(prov: pd.DataFrame) -> dict[str, str]:
    """The first ingest's start and the last one's end (UTC); 'not finished' while a run has no end."""
    started = pd.to_datetime(prov["started_at"].dropna(), utc=True)
    finished = pd.to_datetime(prov["finished_at"].dropna(), utc=True)
    out = {}
    if len(started):
        out["ingest started"] = f"{started.min():%Y-%m-%d %H:%M:%S} UTC"
    if len(finished) and prov["finished_at"].notna().all():
        out["ingest finished"] = f"{finished.max():%Y-%m-%d %H:%M:%S} UTC"
    elif len(started):
        out["ingest finished"] = "not finished (a run has no end time)"
    return out


def build(data: ReportData) -> Section:
    sec = Section(KEY, TITLE, GUIDE)
    scope = data.scope
    if scope.suite is None:
        raise Missing("the warehouse holds no suite: run `convdiv ingest SUITE --corpus NAME`")
    if scope.corpus is None:
        raise Missing("the warehouse holds no corpus: run `convdiv corpus add NAME ...`")
    corpus = data.lookup(names.CORPUS_SUMMARY, corpus=scope.corpus)
    ck = data.view(names.CHECKPOINT_COVERAGE).sort_values(["size_rank", "size", "seed", "step"]).reset_index(drop=True)
    prov = data.view(names.INGEST_PROVENANCE).sort_values("started_at", na_position="last").reset_index(drop=True)

    sec.tables.append(scope_table(data, corpus, ck, prov))
    if ck.empty:
        raise_missing = Missing(f"suite {scope.suite!r} has no checkpoints registered: run `convdiv ingest`")
        sec.tables[0].caption = str(raise_missing)
        raise raise_missing

    n_seeds = ck["seed"].nunique()
    grid = coverage_grid(ck)
    sizes = [s for s in scope.sizes if s in set(grid["size"])]
    sec.figures.append(coverage_figure(grid, sizes, n_seeds, corpus))
    sec.notes.extend(coverage_notes(data, ck, sizes))
    sec.notes.extend(single_run_notes(n_seeds, len(sizes)))
    sec.notes.extend(duplicate_notes(ck))
    if not prov.empty:
        sec.notes.extend(ledger_notes(prov))
        sec.tables.append(provenance_table(prov))
    else:
        sec.notes.append("no ingest ledger rows for this suite and corpus (facts loaded without `convdiv ingest`?)")
    return sec


def scope_table(data: ReportData, corpus: pd.DataFrame, ck: pd.DataFrame, prov: pd.DataFrame) -> Table:
    """The report's scope: suite, corpus, what was ingested, and by which convdiv on which devices."""
    scope = data.scope
    summary = {
        "suite": scope.suite,
        "corpus": scope.corpus,
        "sizes": ", ".join(scope.sizes) or "none",
        "seeds": ", ".join(str(s) for s in sorted(ck["seed"].unique())) if not ck.empty else "none",
        "steps": ", ".join(str(s) for s in sorted(ck["step"].unique())) if not ck.empty else "none",
        "checkpoints with data": f"{int(ck['has_data'].sum()) if not ck.empty else 0} of {len(ck)}",
        "documents": int(corpus["n_documents"].iloc[0]) if not corpus.empty else "?",
        "positions": int(corpus["n_positions"].iloc[0]) if not corpus.empty else "?",
        "vocabulary |V|": int(corpus["vocab_size"].iloc[0]) if not corpus.empty else "?",
        "POS tagger": corpus["spacy_model"].iloc[0] if not corpus.empty else "?",
        "POS tagset": data.groupings.label,
        "token frequencies from": frequency_source(corpus["frequency_source"].iloc[0] if not corpus.empty else None),
        "report written by convdiv": __version__,
    }
    if not prov.empty:
        summary["ingested by convdiv"] = ", ".join(sorted({str(v) for v in prov["convdiv_version"].dropna()}))
        summary["devices"] = ", ".join(sorted({d.strip() for v in prov["devices"].dropna() for d in v.split(",")}))
        summary.update(ingest_span(prov))
    return Table(
        "overview-summary",
        "Scope",
        pd.DataFrame({"item": list(summary), "value": [str(v) for v in summary.values()]}),
    )


def coverage_grid(ck: pd.DataFrame) -> pd.DataFrame:
    """Seeds with data per (size, step), sizes in rank order."""
    grid = ck.groupby(["size", "size_rank", "step"], as_index=False).agg(
        seeds_with_data=("has_data", "sum"), seeds=("seed", "nunique")
    )
    return grid.sort_values(["size_rank", "step"])


def coverage_figure(grid: pd.DataFrame, sizes: list[str], n_seeds: int, corpus: pd.DataFrame) -> Figure:
    """The coverage heatmap: one cell per (size, step), coloured by the seeds with data there."""
    steps = sorted(grid["step"].unique())
    z = grid.pivot(index="size", columns="step", values="seeds_with_data").reindex(index=sizes, columns=steps)
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(dtype=float),
            x=[str(s) for s in steps],
            y=sizes,
            zmin=0,
            zmax=n_seeds,
            colorscale="Blues",
            text=z.fillna(0).astype(int).to_numpy(),
            texttemplate="%{text}",
            colorbar=dict(title="seeds"),
            hovertemplate="size %{y}, step %{x}: %{z} seeds with data<extra></extra>",
        )
    )
    fig.update_layout(
        **base_layout(
            f"Checkpoints with data (of {n_seeds} seeds)",
            height=160 + 40 * len(sizes),
            xaxis=dict(title="training step", type="category"),
            yaxis=dict(title="size"),
        )
    )
    n_positions = int(corpus["n_positions"].iloc[0]) if not corpus.empty else 0
    return Figure(
        "overview-coverage",
        fig,
        grid[["size", "step", "seeds_with_data", "seeds"]],
        caption=f"n: {plural(n_seeds, 'seed')}, {plural(len(sizes), 'size')} x {plural(len(steps), 'step')}, "
        f"{n_positions:,} positions; "
        "counts of checkpoints with measurements (no interval).",
    )


def coverage_notes(data: ReportData, ck: pd.DataFrame, sizes: list[str]) -> list[str]:
    """Holes in the ingested grid, and how much of the suite's planned grid has measurements."""
    notes = []
    # Holes: (size, seed, step) combinations inside the ingested grid (each of the three has data elsewhere)
    # that have no measurements, whether or not the checkpoint row exists.
    with_data = ck[ck["has_data"]]
    present = set(zip(with_data["size"], with_data["seed"], with_data["step"]))
    holes = [
        (size, seed, step)
        for size in sizes
        for seed in sorted(with_data["seed"].unique())
        for step in sorted(with_data["step"].unique())
        if size in set(with_data["size"]) and (size, seed, step) not in present
    ]
    if holes:
        listed = ", ".join(f"{size}/seed{seed}/step{step}" for size, seed, step in holes[:12])
        more = f" and {len(holes) - 12} more" if len(holes) > 12 else ""
        notes.append(f"warning: {len(holes)} checkpoint(s) without measurements on this corpus: {listed}{more}")
    spec = data.lookup(names.SUITE_SUMMARY, suite=data.scope.suite)["spec"].iloc[0]
    if isinstance(spec, dict) and all(isinstance(spec.get(k), list) for k in ("sizes", "seeds", "steps")):
        wanted = [s_ for s_ in spec["sizes"] if s_ in set(data.scope.sizes)] or spec["sizes"]
        total = len(wanted) * len(spec["seeds"]) * len(spec["steps"])
        if total > len(present):
            notes.append(
                f"{len(present)} of the suite's {total} checkpoints (sizes {', '.join(wanted)} x "
                f"{len(spec['seeds'])} seeds x {len(spec['steps'])} steps) have measurements"
            )
    return notes


def duplicate_notes(ck: pd.DataFrame) -> list[str]:
    """A warning per run whose weights are identical at two or more steps (a duplicated checkpoint)."""
    dup = ck.dropna(subset=["weights_sha256"])
    dup = dup[dup.duplicated(["size", "seed", "weights_sha256"], keep=False)]
    return [
        f"warning: {size} seed {seed} has identical weights at steps "
        f"{', '.join(str(s) for s in sorted(g['step']))} (a duplicated checkpoint)"
        for (size, seed, _sha), g in dup.groupby(["size", "seed", "weights_sha256"])
    ]


def ledger_notes(prov: pd.DataFrame) -> list[str]:
    """Warnings for ingest units that failed or have not finished."""
    notes = []
    failed = int(prov["units_failed"].sum())
    pending = int((prov["units"] - prov["units_done"] - prov["units_failed"]).sum())
    if failed:
        notes.append(f"warning: {failed} ingest unit(s) failed: rerun `convdiv ingest`")
    if pending:
        notes.append(f"warning: {pending} ingest unit(s) not finished (pending or running)")
    return notes


PROVENANCE_COLUMNS = [
    "ingest_run_id",
    "convdiv_version",
    "host",
    "started_at",
    "finished_at",
    "run_status",
    "units",
    "units_done",
    "units_failed",
    "devices",
    "dtypes",
    "rows_checkpoint_token",
    "rows_pair_token",
    "elapsed_s",
]


def provenance_table(prov: pd.DataFrame) -> Table:
    """One row per ingest run of this suite and corpus, dates in UTC."""
    shown = prov.copy()
    for col in ("started_at", "finished_at"):
        shown[col] = pd.to_datetime(shown[col], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return Table("overview-provenance", "Ingest runs", shown[PROVENANCE_COLUMNS])

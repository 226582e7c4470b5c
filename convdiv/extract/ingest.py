"""`convdiv ingest`: every per-token measurement of a suite on a corpus, computed and published unit by unit.

Units of work (the ledger's ``ingest_unit`` rows; see ``warehouse/ledger.py`` for claiming and publishing):

- ``size=<m>/step=<t>``: the ``checkpoint_token`` rows of every selected seed at (m, t), the ``seed_pair``
  comparisons among those seeds (each unordered pair once, KL stored in both directions) and the
  ``consecutive_step`` comparisons (m, s, t_prev) -> (m, s, t), t_prev = the suite's step just before t;
- ``cross_size/step=<t>``: the ``cross_size`` comparisons (m_i, s, t) -> (m_j, s, t) for every seed and every
  pair of selected sizes, smaller size first.

A unit owns its rows: publishing replaces whatever the warehouse held for it (``checkpoint_token`` of its
checkpoints, ``pair_token`` of its comparison kinds with checkpoint b among its checkpoints), so a unit is
always fully visible or absent, and units never overlap whatever selection of sizes/seeds/steps a call uses.
The same publish transaction maintains the aggregates the analysis views read (``maintain_aggregates`` in
``sql/060_maintain_aggregates.sql``): there is no refresh at the end, and readers never wait on an ingest.

Work groups: a worker claims several consecutive units of one size at once (as many as the memory budget
allows; all steps of a size when models are tiny) and runs ONE extract pass over the models they need: every
seed at each step of the group plus the seeds at the step before the group's first step. So each checkpoint is
forward-passed about once (once per group, plus once more as the "previous step" of the next group).

Overlap: each worker computes one group while it prefetches the next and publishes the previous one; see
``convdiv.extract.worker``.

Skipping: a unit is skipped when the ledger has it ``done`` under the same ``config_hash``: sha256 over its
checkpoints' weights (sha256 of their safetensors files; ``repo@revision`` for hub checkpoints not yet in the
local cache), its comparisons, the corpus content hash, the context length,
:data:`convdiv.extract.plan.RESULTS_VERSION` and the convdiv major version (see
:func:`convdiv.extract.plan.config_hash`). ``force=True`` recomputes every unit finished before the call started.

KL values in (-1e-6, 0) are float32 rounding of a true 0 and are stored as 0; anything more negative fails
the unit (see :func:`convdiv.extract.worker.unit_rows`).

Modules: this one holds the call (:func:`ingest`: plan, split into todo/skipped, run the workers, summarise), the registration of dimensions and ledger units (:func:`prepare`) and the corpus reader;
``convdiv.extract.plan`` holds the units and their configuration hashes, ``convdiv.extract.worker`` the worker
that computes and publishes them. Their public names are re-exported here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from psycopg.types.json import Jsonb

from convdiv import __version__
from convdiv.config import Settings
from convdiv.errors import ConvdivError, describe
from convdiv.extract.plan import (
    CACHE_POLICIES,
    COMPARISON_KINDS,
    DEFAULT_BATCH_TOKENS,
    DEFAULT_COMPARISONS,
    RESULTS_VERSION,
    SIZE_UNIT_KINDS,
    ComputeOptions,
    Plan,
    UnitPlan,
    _group_limits,
    _parse_label,
    _split_list,
    check_arguments,
    check_context_length,
    check_suite_name,
    checkpoint_fingerprint,
    config_hash,
    label_of,
    memory_budget_bytes,
    parse_comparisons,
    plan_units,
    resolve_device,
    resolve_devices,
    resolve_dtype,
    suite_origin,
    torch_dtype,
)
from convdiv.extract.worker import (
    KL_TOLERANCE,
    UnitOutcome,
    Worker,
    WorkerReport,
    _worker_process,
    unit_rows,
)
from convdiv.warehouse import ledger
from convdiv.warehouse.ledger import q

# The names of the plan and the worker modules that were defined here before the split stay importable from here.
__all__ = [
    "COMPARISON_KINDS", "DEFAULT_BATCH_TOKENS", "DEFAULT_COMPARISONS", "KL_TOLERANCE", "RESULTS_VERSION",
    "SIZE_UNIT_KINDS", "ComputeOptions", "CorpusData", "IngestError", "IngestSummary", "Plan", "UnitOutcome",
    "UnitPlan", "Worker", "WorkerReport", "checkpoint_fingerprint", "config_hash", "ingest", "label_of",
    "memory_budget_bytes", "parse_comparisons", "plan_units", "prepare", "read_corpus", "resolve_device",
    "resolve_dtype", "torch_dtype", "unit_rows",
]


# --------------------------------------------------------------------------------------------- results


@dataclass
class IngestSummary:
    suite: str
    corpus: str
    units_total: int
    units_done: int
    units_skipped: int
    units_failed: int
    rows_checkpoint_token: int
    rows_pair_token: int
    elapsed_s: float
    device: str
    dtype: str
    workers: list[WorkerReport]
    outcomes: list[UnitOutcome]
    warnings: list[str] = field(default_factory=list)  # e.g. identical weights at two steps of a run
    units_missing: int = 0  # left out: a checkpoint they need has no revision on the Hub (or in the cache)
    missing_units: dict[str, str] = field(default_factory=dict)  # unit key -> why
    units_elsewhere: int = 0  # done meanwhile by other workers on the same ledger (other processes or machines)


# --------------------------------------------------------------------------------------------- corpus data


@dataclass
class CorpusData:
    position_ids: np.ndarray  # int32 [N], (document, idx) order
    documents: list[np.ndarray]  # int64 full token sequences
    log_unigram: np.ndarray  # float64 [V]


def read_corpus(conn, corpus_id: int, vocab_size: int, corpus_name: str) -> CorpusData:
    """Documents (full token sequences), position ids and log unigram of a corpus, by binary COPY."""
    from convdiv.warehouse.loader import copy_out

    with conn.cursor() as cur:
        pid, doc, idx, ctx, tgt = copy_out(cur, q("corpus_positions"), ["int4"] * 5, {"corpus_id": corpus_id})
        token_ids, log_unigram = copy_out(cur, q("corpus_log_unigram"), ["int4", "float8"], {"corpus_id": corpus_id})
    if len(pid) == 0:
        raise ConvdivError(f"corpus {corpus_name!r} has no positions")
    if len(token_ids) != vocab_size or np.any(token_ids != np.arange(vocab_size)):
        raise ConvdivError(
            f"corpus {corpus_name!r}: vocab_token holds {len(token_ids)} rows, expected token ids 0..{vocab_size - 1}"
        )
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    ends = np.r_[starts[1:], len(doc)]
    documents = []
    for s, e in zip(starts, ends):
        if np.any(idx[s:e] != np.arange(e - s)) or np.any(ctx[s + 1:e] != tgt[s:e - 1]):
            raise ConvdivError(f"corpus {corpus_name!r}: document {int(doc[s])} has gaps or inconsistent positions")
        documents.append(np.concatenate([ctx[s:s + 1], tgt[s:e]]).astype(np.int64))
    return CorpusData(position_ids=pid.astype(np.int32), documents=documents, log_unigram=log_unigram)


# --------------------------------------------------------------------------------------------- registration


def prepare(
    engine,
    settings: Settings,
    suite: str,
    corpus: str,
    *,
    sizes=None,
    seeds=None,
    steps=None,
    comparisons=DEFAULT_COMPARISONS,
    device: str = "auto",
    dtype: str = "auto",
    batch_tokens: int | None = None,
    context_length: int | None = None,
    workers: int = 1,
    force: bool = False,
    memory_budget_gb: float | None = None,
    cache_policy: str = "keep",
    devices=None,
    name: str | None = None,
) -> Plan:
    """Resolve suite and corpus, check they match, register dimensions and ledger units; returns the plan.

    Hub checkpoints whose revision is missing (not on the Hub, or not in the cache when offline) are left out
    with the units that need them: ``Plan.missing_units`` and one warning per missing revision say which.
    ``name`` stores the suite under another name than its own (``--name``); a name already registered from another
    origin (folder or hub repository pattern) is refused before anything heavy is done.
    """
    from convdiv.suites.loading import hub_revision_status, load_tokenizer, safetensors_param_count
    from convdiv.suites.spec import get_suite
    from convdiv.vocab import tokenizer_fingerprint

    check_arguments(batch_tokens=batch_tokens, workers=workers, context_length=context_length,
                    memory_budget_gb=memory_budget_gb)
    check_suite_name(name)
    ledger.lease_seconds()  # a bad CONVDIV_LEASE_SECONDS is refused before anything is registered
    comparisons = parse_comparisons(comparisons)
    if cache_policy not in CACHE_POLICIES:
        raise ConvdivError(f"--cache-policy must be one of {', '.join(CACHE_POLICIES)}, not {cache_policy!r}")
    device_list = resolve_devices(devices) if devices else ()
    if device_list:
        if int(workers) not in (1, len(device_list)):
            raise ConvdivError(f"--workers {workers} and --devices {','.join(device_list)} disagree: --devices runs "
                               "one worker per listed device (repeat a device for more workers on it)")
        workers, device = len(device_list), device_list[0]
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    spec = get_suite(suite, settings)
    if name is not None:
        spec = replace(spec, name=name.strip())
    origin = suite_origin(spec)
    info = ledger.conninfo(engine)
    with ledger.connect(info) as conn:
        _check_suite_origin(conn, spec.name, origin)
        row = conn.execute(q("corpus_by_name"), {"name": corpus}).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute("SELECT name FROM corpus ORDER BY name")]
            raise ConvdivError(
                f"unknown corpus {corpus!r} (loaded corpora: {', '.join(known) or 'none'}; "
                "add one with `convdiv corpus add`)"
            )
        corpus_id, _, _, corpus_tok_sha, vocab_size, content_sha, _, _ = row
        corpus_options = conn.execute(q("corpus_options"), {"corpus_id": corpus_id}).fetchone()[0] or {}
    # A corpus added with a window (`corpus add --preset study`) is evaluated with it unless the call names one.
    window = corpus_options.get("window") or {}
    window_stride = window.get("stride") if context_length is None else None
    context_from = "--context-length" if context_length is not None else f"corpus {corpus!r}'s window length"
    context_length = context_length if context_length is not None else window.get("context_length")
    tokenizer = load_tokenizer(spec)
    suite_tok_sha = tokenizer_fingerprint(tokenizer)
    if suite_tok_sha != corpus_tok_sha:
        raise ConvdivError(
            f"suite {spec.name!r} and corpus {corpus!r} use different tokenizers (sha256 {suite_tok_sha[:12]} vs "
            f"{corpus_tok_sha[:12]}): add the corpus again with the suite's tokenizer {spec.tokenizer}"
        )
    if len(tokenizer) != vocab_size:
        raise ConvdivError(
            f"corpus {corpus!r} has |V| = {vocab_size} but suite {spec.name!r}'s tokenizer has {len(tokenizer)}"
        )

    units = plan_units(spec, _split_list(sizes) or None, _split_list(seeds) or None,
                       _split_list(steps) or None, comparisons)
    refs = {}
    for label in sorted({label for u in units for label in u.needs}):
        size, seed, step = _parse_label(label)
        refs[label] = spec.ref(size, seed, step)
    missing = hub_revision_status(refs.values()) if spec.source == "hub" else {}
    missing_units: dict[str, str] = {}
    warnings: list[str] = []
    for label, why in missing.items():
        keys = [u.key for u in units if label in u.needs]
        warnings.append(f"{why}: skipping unit(s) {', '.join(keys)}")
        for key in keys:
            missing_units.setdefault(key, why)
    units = [u for u in units if u.key not in missing_units]
    labels = sorted({label for u in units for label in u.needs})
    refs = {label: refs[label] for label in labels}
    check_context_length(context_length, refs.values(), context_from)
    fingerprints = {label: checkpoint_fingerprint(ref) for label, ref in refs.items()}
    from convdiv.suites.loading import check_identical_weights

    warnings += check_identical_weights((refs[label], fp) for label, fp in fingerprints.items() if "@" not in fp)

    batch_tokens = int(batch_tokens or DEFAULT_BATCH_TOKENS)  # None: the default (0 was refused above)
    workers = int(workers or 1)

    with ledger.connect(info) as conn, conn.transaction():
        registered = conn.execute(q("upsert_suite"), {
            "name": spec.name, "source": spec.source, "origin": origin, "tokenizer": spec.tokenizer,
            "tokenizer_sha256": suite_tok_sha, "spec": Jsonb(spec.to_dict())}).fetchone()
        if registered is None:  # registered from another origin since the check above
            _check_suite_origin(conn, spec.name, origin)
        suite_id = registered[0]
        model_ids, run_ids, checkpoint_ids = {}, {}, {}
        for label in labels:
            ref = refs[label]
            if ref.size not in model_ids:
                n_params = safetensors_param_count(Path(ref.path)) if spec.source == "local" else None
                model_ids[ref.size] = conn.execute(q("upsert_model"), {
                    "suite_id": suite_id, "size": ref.size, "size_rank": spec.size_rank(ref.size),
                    "n_params": n_params}).fetchone()[0]
            if (ref.size, ref.seed) not in run_ids:
                run_ids[(ref.size, ref.seed)] = conn.execute(q("upsert_run"), {
                    "model_id": model_ids[ref.size], "seed": ref.seed, "source": ref.source}).fetchone()[0]
            fp = fingerprints[label]
            checkpoint_ids[label] = conn.execute(q("upsert_checkpoint"), {
                "run_id": run_ids[(ref.size, ref.seed)], "step": ref.step, "revision": ref.revision,
                "weights_sha256": fp if "@" not in fp else None}).fetchone()[0]
        comparison_ids = {}
        for unit in units:
            for comp in unit.comparisons:
                if comp not in comparison_ids:
                    comparison_ids[comp] = conn.execute(q("upsert_comparison"), {
                        "kind": comp[0], "checkpoint_a": checkpoint_ids[comp[1]],
                        "checkpoint_b": checkpoint_ids[comp[2]]}).fetchone()[0]
        unit_ids = ledger.ensure_units(conn, suite_id, corpus_id, [u.key for u in units])
        planned = []
        for unit in units:
            if unit.writes:
                # A size unit owns exactly the checkpoints it writes: a narrower --seeds selection recomputes those
                # and leaves the other seeds' rows (and their pairs) in place instead of dropping them.
                owned = [checkpoint_ids[label] for label in unit.writes]
            else:  # a cross-size unit owns the cross_size pairs of every checkpoint at its step
                owned = [r[0] for r in conn.execute(q("owned_checkpoints"),
                                                    {"suite_id": suite_id, "step": unit.step, "size": unit.size})]
            planned.append(UnitPlan(**{**unit.__dict__, "unit_id": unit_ids[unit.key],
                                       "config_hash": config_hash(unit, fingerprints, content_sha, context_length,
                                                                  window_stride, dtype),
                                       "owned_checkpoint_ids": tuple(sorted(owned))}))
        started_at = conn.execute("SELECT now()").fetchone()[0]
        force_before = started_at if force else None

    compute = ComputeOptions(device=device, dtype=dtype, batch_tokens=batch_tokens, context_length=context_length,
                             threads=max(1, (os.cpu_count() or 1) // workers) if device == "cpu" else None,
                             window_stride=window_stride)
    # Every worker claims groups of the same size: size them for the smallest of the devices' budgets.
    group_limit: dict[str, int] = {}
    for dev in dict.fromkeys(device_list or (device,)):
        limits = _group_limits(planned, refs, spec, replace(compute, device=dev), memory_budget_gb)
        group_limit = {k: min(v, group_limit.get(k, v)) for k, v in limits.items()}
    arguments = {"suite": spec.name, "corpus": corpus, "sizes": _split_list(sizes), "seeds": _split_list(seeds),
                 "steps": _split_list(steps), "comparisons": list(comparisons), "device": device, "dtype": dtype,
                 "batch_tokens": batch_tokens, "context_length": context_length, "window_stride": window_stride,
                 "workers": workers, "force": force, "cache_policy": cache_policy, "devices": list(device_list)}
    return Plan(conninfo=info, suite_name=spec.name, corpus_name=corpus, suite_id=suite_id, corpus_id=corpus_id,
                vocab_size=vocab_size, refs=refs, checkpoint_ids=checkpoint_ids, comparison_ids=comparison_ids,
                units=planned, group_limit=group_limit, compute=compute, force_before=force_before,
                started_at=started_at, arguments=arguments, warnings=warnings, missing_units=missing_units,
                cache_policy=cache_policy, devices=device_list)


def _check_suite_origin(conn, name: str, origin: str) -> None:
    """Refuse a suite name that is registered from another origin (its facts would be overwritten)."""
    row = conn.execute(q("suite_origin"), {"name": name}).fetchone()
    if row is not None and row[0] != origin:
        stored = row[0] or "an unknown origin (written by hand)"
        raise ConvdivError(
            f"suite name {name!r} is already used by the suite from {stored}; this suite comes from {origin}: "
            f"store it under another name with `convdiv ingest ... --name NEW` (the stored suite is left as it is)"
        )


# --------------------------------------------------------------------------------------------- the call


def ingest(
    engine,
    settings: Settings,
    suite: str,
    corpus: str,
    *,
    sizes=None,
    seeds=None,
    steps=None,
    comparisons=DEFAULT_COMPARISONS,
    device: str = "auto",
    dtype: str = "auto",
    batch_tokens: int | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
    context_length: int | None = None,
    memory_budget_gb: float | None = None,
    cache_policy: str = "keep",
    devices=None,
    notes: Callable[[str], None] | None = None,
    name: str | None = None,
) -> IngestSummary:
    """Compute and publish every unit of ``suite`` x ``corpus`` that is not already done; see the module doc.

    Returns a summary; raises ConvdivError (one line, naming the checkpoint or unit) on the first failure, after
    the other workers finished their current units. Units published before a failure stay published.
    ``notes`` gets the lines a person wants before the work starts (missing revisions, weights size, free disk).
    ``devices`` (e.g. ``["cuda:0", "cuda:1"]``) runs one worker process per entry; ``cache_policy="evict"``
    deletes a hub checkpoint's files once every unit of this call that needs it is done.
    """
    from convdiv.suites.loading import disk_estimate

    started = time.perf_counter()
    plan = prepare(engine, settings, suite, corpus, sizes=sizes, seeds=seeds, steps=steps, comparisons=comparisons,
                   device=device, dtype=dtype, batch_tokens=batch_tokens, context_length=context_length,
                   workers=workers, force=force, memory_budget_gb=memory_budget_gb, cache_policy=cache_policy,
                   devices=devices, name=name)
    # Workers that died (same host) or lost their lease: their runs are aborted and their units claimable again.
    aborted = ledger.reap(plan.conninfo)
    todo, skipped = _split_todo(plan)
    outcomes = [UnitOutcome(u.key, "skipped") for u in skipped]
    outcomes += [UnitOutcome(key, "missing", error=why) for key, why in plan.missing_units.items()]
    reports: list[WorkerReport] = []
    errors: list[str] = []
    total = sum(max(1, len(u.writes)) for u in todo)
    n_workers = len(plan.devices) or max(1, int(workers))
    if notes is not None:
        for run in aborted:
            notes(f"aborted ingest run {run.ingest_run_id} ({run.host}): {run.reason}; its units are claimable again")
        for warning in plan.warnings:
            notes(f"warning: {warning}")
        needed = sorted({label for u in todo for label in u.needs})
        disk = disk_estimate([plan.refs[label] for label in needed])
        notes(f"{len(todo)} unit(s) to do, {len(skipped)} already done, {len(plan.missing_units)} skipped "
              f"(revision missing); cache policy {plan.cache_policy}; {n_workers} worker(s) on "
              f"{', '.join(plan.devices) or plan.compute.device}")
        for line in disk.lines():
            notes(line)
        c = plan.compute
        notes(f"windows    {c.context_length or 'max_position_embeddings'} tokens, stride "
              f"{c.window_stride or (c.context_length // 2 if c.context_length else 'half of that')}"
              f"{' (from the corpus options)' if c.window_stride else ''}")
    with _Progress(progress, total, len(todo)) as bar:
        bar.todo_ids = {u.unit_id for u in todo}
        if todo:
            if n_workers == 1:
                try:
                    reports.append(Worker(plan, 0, on_unit=bar.advance, progress=bar).run())
                except Exception as exc:  # noqa: BLE001 - same one-line report as a crashed worker process
                    errors.append(describe(exc, "ingest worker 0 failed"))
            else:
                reports, errors = _run_processes(plan, n_workers, bar)
    worker_warnings: list[str] = []
    for r in reports:
        outcomes += r.outcomes
        worker_warnings += [w for w in r.warnings if w not in worker_warnings]
        if r.error and r.error not in errors:  # a worker that finished, but with units failed on bad checkpoints
            errors.append(r.error)
    done = [o for o in outcomes if o.status == "done"]
    failed = [o for o in outcomes if o.status == "failed"]
    elsewhere = 0
    if todo:
        try:
            with ledger.connect(plan.conninfo) as conn:
                left = conn.execute(q("units_not_done"), {"unit_ids": [u.unit_id for u in todo]}).fetchone()[0]
            elsewhere = max(0, len(todo) - left - len(done))
        except Exception:  # noqa: BLE001 - only a count for the summary; the workers' error, if any, is reported
            elsewhere = 0
    summary = IngestSummary(
        suite=plan.suite_name, corpus=plan.corpus_name, units_total=len(plan.units) + len(plan.missing_units),
        units_done=len(done), units_skipped=len(skipped), units_failed=len(failed),
        rows_checkpoint_token=sum(o.rows_checkpoint_token for o in done),
        rows_pair_token=sum(o.rows_pair_token for o in done), elapsed_s=time.perf_counter() - started,
        device=", ".join(plan.devices) or plan.compute.device, dtype=plan.compute.dtype, workers=reports,
        outcomes=outcomes, warnings=plan.warnings + worker_warnings,
        units_missing=len(plan.missing_units), missing_units=dict(plan.missing_units), units_elsewhere=elsewhere,
    )
    if errors:
        raise IngestError(errors[0], summary)
    return summary


class IngestError(ConvdivError):
    """A failed ingest; ``summary`` says what was published before the failure."""

    def __init__(self, message: str, summary: IngestSummary):
        super().__init__(message)
        self.summary = summary


def _split_todo(plan: Plan) -> tuple[list[UnitPlan], list[UnitPlan]]:
    with ledger.connect(plan.conninfo) as conn:
        rows = conn.execute(
            "SELECT unit_id, status, config_hash, finished_at FROM ingest_unit WHERE unit_id = ANY(%s)",
            ([u.unit_id for u in plan.units],),
        ).fetchall()
    state = {r[0]: r[1:] for r in rows}
    todo, skipped = [], []
    for u in plan.units:
        status, chash, finished = state[u.unit_id]
        fresh = plan.force_before is None or (finished is not None and finished >= plan.force_before)
        (skipped if status == "done" and chash == u.config_hash and fresh else todo).append(u)
    return todo, skipped


def _run_processes(plan: Plan, n: int, bar) -> tuple[list[WorkerReport], list[str]]:
    """N worker processes (spawned, so each has its own torch and connections); progress from the ledger."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    weights = {u.unit_id: max(1, len(u.writes)) for u in plan.units}
    seen: set[int] = set()
    reports, errors = [], []
    def worker_plan(i: int) -> Plan:  # --devices: worker i computes on the i-th listed device
        if not plan.devices:
            return plan
        return replace(plan, compute=replace(plan.compute, device=plan.devices[i]))

    with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_process, worker_plan(i), i) for i in range(n)]
        with ledger.connect(plan.conninfo, autocommit=True) as conn:
            while not all(f.done() for f in futures):
                time.sleep(0.5)
                _poll_progress(conn, plan, weights, seen, bar)
            _poll_progress(conn, plan, weights, seen, bar)
        for i, f in enumerate(futures):
            try:
                reports.append(f.result())
            except Exception as exc:  # noqa: BLE001 - a crashed worker process: report it in one line
                errors.append(describe(exc, f"ingest worker {i} failed"))
    return reports, errors


def _poll_progress(conn, plan, weights, seen, bar) -> None:
    rows = conn.execute(
        "SELECT unit_id, status FROM ingest_unit WHERE unit_id = ANY(%s) AND status IN ('done', 'failed') "
        "AND finished_at >= %s",
        (list(weights), plan.started_at),
    ).fetchall()
    for unit_id, status in rows:
        if unit_id not in seen and unit_id in bar.todo_ids:
            seen.add(unit_id)
            bar.advance(UnitOutcome("", status), weights[unit_id] if status == "done" else 0)


class _Progress:
    """rich progress bar: checkpoints done / total with ETA (silent when disabled).

    A checkpoint counts as done when its unit is published; while a group computes, the bar moves with the
    engine's positions (up to 95% of the group, the rest when its units are published).
    """

    def __init__(self, enabled: bool, total: int, n_units: int):
        self.enabled = enabled
        self.total = total
        self.n_units = n_units
        self.todo_ids: set[int] = set()
        self._progress = None
        self._task = None
        self._published = 0.0
        self._group_weight = 0.0
        self._group_published = 0.0
        self._computed = 0.0

    def __enter__(self):
        if self.enabled and self.total:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("[bold]ingest[/bold] checkpoints"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                      TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True),
                                      transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("ingest", total=self.total, unit="")
        return self

    def group_started(self, weight: int) -> None:
        self._group_weight, self._group_published, self._computed = float(weight), 0.0, 0.0

    def computing(self, positions_done: int, positions_total: int) -> None:
        self._computed = 0.95 * self._group_weight * positions_done / max(1, positions_total)
        self._show("")

    def advance(self, outcome: UnitOutcome, checkpoints: int) -> None:
        self._published += checkpoints
        self._group_published += checkpoints
        self._show(outcome.unit_key)

    def _show(self, unit: str) -> None:
        if self._progress is not None:
            pending = max(0.0, self._computed - self._group_published)
            fields = {"unit": unit} if unit else {}
            self._progress.update(self._task, completed=int(self._published + pending), **fields)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False

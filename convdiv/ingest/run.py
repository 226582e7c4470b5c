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
``convdiv.ingest.worker``.

Skipping: a unit is skipped when the ledger has it ``done`` under the same ``config_hash``: sha256 over its
checkpoints' weights (sha256 of their safetensors files; ``repo@revision`` for hub checkpoints not yet in the
local cache), its comparisons, the corpus content hash, the context length,
:data:`convdiv.ingest.plan.RESULTS_VERSION` and the convdiv major version (see
:func:`convdiv.ingest.plan.config_hash`). ``force=True`` recomputes every unit finished before the call started.

KL values in (-1e-6, 0) are float32 rounding of a true 0 and are stored as 0; anything more negative fails
the unit (see :func:`convdiv.ingest.worker.unit_rows`).

This module holds the call: :func:`run` (prepare the plan, split it into todo/skipped, run the workers,
summarise) and :func:`ingest`, its keyword form. The request is ``convdiv.ingest.request``, the plan and its
registration ``convdiv.ingest.plan`` and ``convdiv.ingest.register``, the worker ``convdiv.ingest.worker``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from convdiv.config import Settings
from convdiv.errors import ConvdivError, describe
from convdiv.ingest.plan import Plan, UnitPlan
from convdiv.ingest.progress import ProgressBar
from convdiv.ingest.register import prepare
from convdiv.ingest.request import IngestRequest
from convdiv.ingest.worker import UnitOutcome, Worker, WorkerReport, worker_process
from convdiv.warehouse import ledger, queries
from convdiv.warehouse.ledger import q  # the warehouse's queries (ledger units)

Q = queries.beside(__file__)  # this layer's own queries (convdiv/ingest/sql/)


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


# --------------------------------------------------------------------------------------------- the call


def ingest(
    engine,
    settings: Settings,
    suite: str,
    corpus: str,
    *,
    progress: bool = True,
    notes: Callable[[str], None] | None = None,
    **options,
) -> IngestSummary:
    """:func:`run` with the request's fields as keywords: ``ingest(engine, settings, "pythia", "pile",
    steps="0,512", workers=2)`` runs ``IngestRequest("pythia", "pile", steps="0,512", workers=2)``."""
    return run(engine, settings, IngestRequest(suite, corpus, **options), progress=progress, notes=notes)


def run(
    engine,
    settings: Settings,
    request: IngestRequest,
    *,
    progress: bool = True,
    notes: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Compute and publish every unit of the request's suite x corpus that is not already done; see the module doc.

    Returns a summary; raises ConvdivError (one line, naming the checkpoint or unit) on the first failure, after
    the other workers finished their current units. Units published before a failure stay published.
    ``notes`` gets the lines a person wants before the work starts (missing revisions, weights size, free disk).
    ``request.devices`` (e.g. ``["cuda:0", "cuda:1"]``) runs one worker process per entry;
    ``request.cache_policy="evict"`` deletes a hub checkpoint's files once every unit of this call that needs it is
    done.
    """
    from convdiv.suites.loading import disk_estimate

    started = time.perf_counter()
    plan = prepare(engine, settings, request)
    # Workers that died (same host) or lost their lease: their runs are aborted and their units claimable again.
    aborted = ledger.reap(plan.conninfo)
    todo, skipped = _split_todo(plan)
    outcomes = [UnitOutcome(u.key, "skipped") for u in skipped]
    outcomes += [UnitOutcome(key, "missing", error=why) for key, why in plan.missing_units.items()]
    reports: list[WorkerReport] = []
    errors: list[str] = []
    total = sum(max(1, len(u.writes)) for u in todo)
    n_workers = len(plan.devices) or max(1, int(request.workers or 1))
    if notes is not None:
        for gone in aborted:
            notes(
                f"aborted ingest run {gone.ingest_run_id} ({gone.host}): {gone.reason}; its units are claimable again"
            )
        for warning in plan.warnings:
            notes(f"warning: {warning}")
        needed = sorted({label for u in todo for label in u.needs})
        disk = disk_estimate([plan.refs[label] for label in needed])
        notes(
            f"{len(todo)} unit(s) to do, {len(skipped)} already done, {len(plan.missing_units)} skipped "
            f"(revision missing); cache policy {plan.cache_policy}; {n_workers} worker(s) on "
            f"{', '.join(plan.devices) or plan.compute.device}"
        )
        for line in disk.lines():
            notes(line)
        c = plan.compute
        notes(
            f"windows    {c.context_length or 'max_position_embeddings'} tokens, stride "
            f"{c.window_stride or (c.context_length // 2 if c.context_length else 'half of that')}"
            f"{' (from the corpus options)' if c.window_stride else ''}"
        )
    with ProgressBar(progress, total, len(todo)) as bar:
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
                # one row: a count
                left = conn.execute(q("units_not_done"), {"unit_ids": [u.unit_id for u in todo]}).fetchall()[0][0]
            elsewhere = max(0, len(todo) - left - len(done))
        except Exception:  # noqa: BLE001 - only a count for the summary; the workers' error, if any, is reported
            elsewhere = 0
    summary = IngestSummary(
        suite=plan.suite_name,
        corpus=plan.corpus_name,
        units_total=len(plan.units) + len(plan.missing_units),
        units_done=len(done),
        units_skipped=len(skipped),
        units_failed=len(failed),
        rows_checkpoint_token=sum(o.rows_checkpoint_token for o in done),
        rows_pair_token=sum(o.rows_pair_token for o in done),
        elapsed_s=time.perf_counter() - started,
        device=", ".join(plan.devices) or plan.compute.device,
        dtype=plan.compute.dtype,
        workers=reports,
        outcomes=outcomes,
        warnings=plan.warnings + worker_warnings,
        units_missing=len(plan.missing_units),
        missing_units=dict(plan.missing_units),
        units_elsewhere=elsewhere,
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
        rows = conn.execute(Q["unit_states"], {"unit_ids": [u.unit_id for u in plan.units]}).fetchall()
    state = {r[0]: r[1:] for r in rows}
    todo: list[UnitPlan] = []
    skipped: list[UnitPlan] = []
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
        futures = [pool.submit(worker_process, worker_plan(i), i) for i in range(n)]
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
    rows = conn.execute(Q["units_finished"], {"unit_ids": list(weights), "since": plan.started_at}).fetchall()
    for unit_id, status in rows:
        if unit_id not in seen and unit_id in bar.todo_ids:
            seen.add(unit_id)
            bar.advance(UnitOutcome("", status), weights[unit_id] if status == "done" else 0)

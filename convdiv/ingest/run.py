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
:data:`convdiv.ingest.identity.RESULTS_VERSION` and the convdiv major version (see
:func:`convdiv.ingest.identity.config_hash`). ``force=True`` recomputes every unit finished before the call started.

KL values in (-1e-6, 0) are float32 rounding of a true 0 and are stored as 0; anything more negative fails
the unit (see :func:`convdiv.ingest.worker.unit_rows`).

Exit status (``convdiv ingest``): 0 only when every planned unit is ``done`` in the ledger when the call ends; 1 when
a unit failed (or was given back by a dead worker and failed again); 3 (:data:`STILL_RUNNING_EXIT`, ``--no-wait``)
when other live workers are still computing some. The summary's counts (done here, done by other workers, failed,
still running) add up to the units to do and are read back from the ledger.

This module holds the call: :func:`run` (prepare the plan, split it into todo/skipped, run the workers, wait for
other workers' units, summarise) and :func:`ingest`, its keyword form. The request is ``convdiv.ingest.request``, the plan and its
registration ``convdiv.ingest.plan`` and ``convdiv.ingest.register``, the worker ``convdiv.ingest.worker``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import psycopg

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.ingest.plan import Plan
from convdiv.ingest.progress import ProgressBar
from convdiv.ingest.register import prepare
from convdiv.ingest.request import IngestRequest
from convdiv.ingest.units import UnitPlan
from convdiv.ingest.worker import UnitOutcome, WorkerReport, run_worker, worker_process
from convdiv.warehouse import ledger, queries

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
    units_running: int = 0  # --no-wait: still being computed by other live workers when this call ended
    running_units: dict[str, str] = field(default_factory=dict)  # unit key -> the worker computing it
    # --follow: units left for later: their checkpoints are not complete yet, or the call was told to stop before
    # computing them (given back as pending); unit key -> why
    waiting_units: dict[str, str] = field(default_factory=dict)

    @property
    def units_waiting(self) -> int:
        return len(self.waiting_units)


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
    should_stop: Callable[[], bool] | None = None,
) -> IngestSummary:
    """Compute and publish every unit of the request's suite x corpus that is not already done; see the module doc.

    Returns a summary only when every unit of the plan is done in the ledger. Raises :class:`IngestError` (one line,
    naming the checkpoint or unit; ``summary`` attached) when a unit failed, after the other workers finished their
    current units; units published before a failure stay published. Units other live workers are computing are
    waited for (``request.wait``; with ``wait=False``, :class:`StillRunning`, exit status 3, lists them). A worker
    process that dies fails nobody else's units; the units it gave back are retried once (``_finish_others``). The
    summary's counts are read back from the ledger (``_ledger_counts``).
    ``notes`` gets the lines a person wants before the work starts (missing revisions, weights size, free disk).
    ``request.devices`` (e.g. ``["cuda:0", "cuda:1"]``) runs one worker process per entry;
    ``request.cache_policy="evict"`` deletes a hub checkpoint's files once every unit of this call that needs it is
    done. ``request.follow`` plans only the units whose checkpoints are complete (the others are ``waiting_units``);
    ``should_stop`` (``convdiv.ingest.follow``), once true, lets the group being computed finish and gives the units
    not yet computed back as pending: they are waiting, not failed.
    """
    started = time.perf_counter()
    plan = prepare(engine, settings, request)
    # Workers that died (same host) or lost their lease: their runs are aborted and their units claimable again.
    aborted = ledger.reap(plan.conninfo)
    todo, skipped = _split_todo(plan)
    n_workers = len(plan.devices) or request.workers
    if notes is not None:
        _say_plan(notes, plan, request, aborted, todo, skipped, n_workers)
    reports, errors = _run_workers(plan, todo, n_workers, progress, should_stop)
    stopped = should_stop is not None and should_stop()
    try:
        if todo:
            reports += _finish_others(plan, todo, reports, wait=request.wait, notes=notes, retry=not stopped)
        counts = _ledger_counts(plan, todo, reports, stopped=should_stop is not None and should_stop())
    except psycopg.Error:
        if not any(r.error for r in reports):
            raise
        # the ledger cannot be read (the server is gone?): the worker's own error is the one to report
        counts = _outcome_counts(todo, reports)
    summary = _summary(plan, skipped, reports, errors, counts, time.perf_counter() - started)
    if counts.failed and not errors:  # failed by another worker on the same ledger (their error names the cause)
        errors.append(f"{counts.failed} unit(s) failed (see `convdiv db status` and ingest_unit.error)")
    if errors:
        raise IngestError(errors[0], summary)
    if counts.running:
        raise StillRunning(summary)
    return summary


def _say_plan(notes, plan: Plan, request: IngestRequest, aborted, todo, skipped, n_workers: int) -> None:
    """The lines a person wants before the work starts: runs aborted, warnings, the units, disk, windows."""
    from convdiv.suites.loading import disk_estimate

    for gone in aborted:
        notes(f"aborted ingest run {gone.ingest_run_id} ({gone.host}): {gone.reason}; its units are claimable again")
    for warning in plan.warnings:
        notes(f"warning: {warning}")
    needed = sorted({label for u in todo for label in u.needs})
    disk = disk_estimate([plan.refs[label] for label in needed])
    notes(
        f"{len(todo)} unit(s) to do, {len(skipped)} already done, {len(plan.missing_units)} skipped "
        f"(revision missing){f', {len(plan.waiting_units)} waiting for checkpoints' if request.follow else ''}; "
        f"cache policy {plan.cache_policy}; {n_workers} worker(s) on "
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


def _run_workers(
    plan: Plan, todo: list[UnitPlan], n_workers: int, progress: bool, should_stop
) -> tuple[list[WorkerReport], list[str]]:
    """This call's workers (one in this process, or ``n_workers`` processes), under the progress bar."""
    reports: list[WorkerReport] = []
    errors: list[str] = []
    total = sum(max(1, len(u.writes)) for u in todo)
    with ProgressBar(progress, total, len(todo)) as bar:
        bar.todo_ids = {u.unit_id for u in todo}
        if todo:
            if n_workers == 1:
                reports.append(run_worker(plan, 0, on_unit=bar.advance, progress=bar, should_stop=should_stop))
            else:
                reports, errors = _run_processes(plan, n_workers, bar)
    return reports, errors


def _summary(
    plan: Plan, skipped: list[UnitPlan], reports: list[WorkerReport], errors: list[str], counts: _Counts, elapsed: float
) -> IngestSummary:
    """The summary of the call; the workers' errors are added to ``errors`` (first one first)."""
    outcomes = [UnitOutcome(u.key, "skipped") for u in skipped]
    outcomes += [UnitOutcome(key, "missing", error=why) for key, why in plan.missing_units.items()]
    worker_warnings: list[str] = []
    for r in reports:
        outcomes += r.outcomes
        worker_warnings += [w for w in r.warnings if w not in worker_warnings]
        if r.error and r.error not in errors:  # a worker that stopped, or finished with units failed on bad checkpoints
            errors.append(r.error)
    done = [o for o in outcomes if o.status == "done"]
    return IngestSummary(
        suite=plan.suite_name,
        corpus=plan.corpus_name,
        units_total=len(plan.units) + len(plan.missing_units) + len(plan.waiting_units),
        units_done=counts.done_here,
        units_skipped=len(skipped),
        units_failed=counts.failed,
        rows_checkpoint_token=sum(o.rows_checkpoint_token for o in done),
        rows_pair_token=sum(o.rows_pair_token for o in done),
        elapsed_s=elapsed,
        device=", ".join(plan.devices) or plan.compute.device,
        dtype=plan.compute.dtype,
        workers=reports,
        outcomes=outcomes,
        warnings=plan.warnings + worker_warnings,
        units_missing=len(plan.missing_units),
        missing_units=dict(plan.missing_units),
        units_elsewhere=counts.done_elsewhere,
        units_running=len(counts.running),
        running_units=counts.running,
        waiting_units={**plan.waiting_units, **{key: "given back when told to stop" for key in counts.given_back}},
    )


STILL_RUNNING_EXIT = 3  # `ingest --no-wait`: units other live workers are computing were left to them


class StillRunning(ConvdivError):
    """``--no-wait``: every unit this call could do is done, but other live workers are still computing some; the
    summary lists them (``running_units``). Exit status :data:`STILL_RUNNING_EXIT`."""

    exit_code = STILL_RUNNING_EXIT

    def __init__(self, summary: IngestSummary):
        shown = ", ".join(f"{k} ({who})" for k, who in list(summary.running_units.items())[:3])
        more = f" and {summary.units_running - 3} more" if summary.units_running > 3 else ""
        super().__init__(
            f"{summary.units_running} unit(s) are still being computed by other workers: {shown}{more}; "
            "run the ingest again without --no-wait to wait for them"
        )
        self.summary = summary


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
    """N worker processes (spawned, so each has its own torch and connections); progress from the ledger.

    Each process hands back its report through a queue. One that dies without a report (kill -9, out of memory)
    fails nobody else's units: the others go on, and its run is aborted by the next claim (its pid is gone), which
    gives its units back to be claimed again; a report of the death stands in for its own."""
    import multiprocessing as mp
    import queue as queue_module

    ctx = mp.get_context("spawn")
    weights = {u.unit_id: max(1, len(u.writes)) for u in plan.units}
    seen: set[int] = set()

    def worker_plan(i: int) -> Plan:  # --devices: worker i computes on the i-th listed device
        if not plan.devices:
            return plan
        return replace(plan, compute=replace(plan.compute, device=plan.devices[i]))

    reports_queue = ctx.Queue()
    procs = [ctx.Process(target=worker_process, args=(worker_plan(i), i, reports_queue)) for i in range(n)]
    for p in procs:
        p.start()
    got: dict[int, WorkerReport] = {}

    def drain(timeout: float = 0.0) -> None:
        try:
            while True:
                index, report = reports_queue.get(timeout=timeout) if timeout else reports_queue.get_nowait()
                got[index] = report
        except queue_module.Empty:
            pass

    dead: dict[int, int] = {}
    with ledger.connect(plan.conninfo, autocommit=True) as conn:
        while len(got) + len(dead) < n:
            time.sleep(0.5)
            drain()
            for i, p in enumerate(procs):
                if i not in got and i not in dead and not p.is_alive():
                    drain(timeout=2.0)  # a report put just before the process exited
                    if i not in got:
                        dead[i] = p.exitcode if p.exitcode is not None else -1
            _poll_progress(conn, plan, weights, seen, bar)
        _poll_progress(conn, plan, weights, seen, bar)
        for i, code in dead.items():
            got[i] = _dead_worker_report(conn, i, procs[i].pid, code)
    for p in procs:
        p.join()
    return [got[i] for i in sorted(got)], []


def _dead_worker_report(conn, index: int, pid: int | None, exitcode: int) -> WorkerReport:
    """What stands for the report of a worker process that died: its run (found by its host:pid) and one warning."""
    import signal

    row = conn.execute(Q["run_of_host"], {"host": f"{socket.gethostname()}:{pid}"}).fetchone()
    how = f"exit status {exitcode}"
    if exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    return WorkerReport(
        worker=index,
        ingest_run_id=row[0] if row else 0,
        warnings=[f"ingest worker {index} (pid {pid}) died ({how}); its unfinished units were given back"],
    )


def _finish_others(
    plan: Plan, todo: list[UnitPlan], reports: list[WorkerReport], *, wait: bool, notes, retry: bool = True
) -> list[WorkerReport]:
    """After this call's workers are done: units given back by a worker that died are retried once, here; units
    that other live workers (their runs in the ledger) are computing are waited for, naming them every
    WAIT_NOTE_S (not with ``wait=False``). Returns the reports of the retry, if one ran."""
    extra: list[WorkerReport] = []
    retried = any(r.error for r in reports) or not retry  # a worker stopped on an error: nothing is retried after it
    last_note, last_held = 0.0, None
    say = notes or (lambda line: None)
    while True:
        ledger.reap(plan.conninfo)  # a dead worker's runs are aborted, their units given back
        states = _unit_states(plan, todo)
        open_ = [u for u in todo if _needs_work(plan, u, states[u.unit_id]) and states[u.unit_id][0] != "failed"]
        held = {u.key: _holder(states[u.unit_id]) for u in open_ if _held(states[u.unit_id])}
        free = [u for u in open_ if u.key not in held]
        if free and not retried:
            retried = True
            say(f"retrying {len(free)} unit(s) given back by a worker that stopped: {_keys(free)}")
            extra.append(run_worker(plan, len(reports)))
            if extra[-1].error:
                break
            continue
        if not held or not wait:
            break
        now = time.monotonic()
        if held != last_held or now - last_note >= WAIT_NOTE_S:
            shown = ", ".join(f"{k} ({who})" for k, who in list(held.items())[:5])
            say(f"waiting for {len(held)} unit(s) other workers are computing: {shown}")
            last_note, last_held = now, held
        time.sleep(WAIT_POLL_S)
    return extra


WAIT_POLL_S = 1.0
WAIT_NOTE_S = 30.0


def _keys(units: list[UnitPlan]) -> str:
    return ", ".join(u.key for u in units[:5]) + (f" and {len(units) - 5} more" if len(units) > 5 else "")


def _unit_states(plan: Plan, units: list[UnitPlan]) -> dict[int, tuple]:
    """unit_id -> (status, config_hash, finished_at, ingest_run_id, run status, run host), from the ledger."""
    with ledger.connect(plan.conninfo, autocommit=True) as conn:
        rows = conn.execute(Q["unit_outcomes"], {"unit_ids": [u.unit_id for u in units]}).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _needs_work(plan: Plan, unit: UnitPlan, state: tuple) -> bool:
    status, chash, finished = state[0], state[1], state[2]
    fresh = plan.force_before is None or (finished is not None and finished >= plan.force_before)
    return not (status == "done" and chash == unit.config_hash and fresh)


def _held(state: tuple) -> bool:
    """Being computed by a live worker: running under a run that is itself still running."""
    return state[0] == "running" and state[4] == "running"


def _holder(state: tuple) -> str:
    return f"ingest run {state[3]} on {state[5]}"


@dataclass
class _Counts:
    done_here: int
    done_elsewhere: int
    failed: int
    running: dict[str, str]  # unit key -> who computes it
    given_back: list[str] = field(default_factory=list)  # told to stop: pending again, neither done nor failed


def _outcome_counts(todo: list[UnitPlan], reports: list[WorkerReport]) -> _Counts:
    """The counts as this call's workers saw them, when the ledger cannot be read back: what they did not publish
    counts as failed."""
    done = sum(1 for r in reports for o in r.outcomes if o.status == "done")
    return _Counts(done, 0, max(0, len(todo) - done), {})


def _ledger_counts(plan: Plan, todo: list[UnitPlan], reports: list[WorkerReport], stopped: bool = False) -> _Counts:
    """The summary's counts of the units to do, read back from the ledger: done by this call's runs, done by other
    workers, failed (or given back and not retried), still being computed by live workers, and (``stopped``) given
    back because the call was told to stop. They add up to len(todo)."""
    if not todo:
        return _Counts(0, 0, 0, {})
    mine = {r.ingest_run_id for r in reports if r.ingest_run_id}
    states = _unit_states(plan, todo)
    counts = _Counts(0, 0, 0, {})
    for u in todo:
        state = states[u.unit_id]
        if not _needs_work(plan, u, state):
            if state[3] in mine:
                counts.done_here += 1
            else:
                counts.done_elsewhere += 1
        elif _held(state):
            counts.running[u.key] = _holder(state)
        elif stopped and state[0] != "failed":  # never claimed, or claimed and given back
            counts.given_back.append(u.key)
        else:
            counts.failed += 1
    return counts


def _poll_progress(conn, plan, weights, seen, bar) -> None:
    rows = conn.execute(Q["units_finished"], {"unit_ids": list(weights), "since": plan.started_at}).fetchall()
    for unit_id, status in rows:
        if unit_id not in seen and unit_id in bar.todo_ids:
            seen.add(unit_id)
            bar.advance(UnitOutcome("", status), weights[unit_id] if status == "done" else 0)

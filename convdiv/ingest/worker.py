"""The ingest worker: claims work groups from the ledger, computes them and publishes each unit.

The computing half of an ingest (the call is ``convdiv.ingest.run``, the plan ``convdiv.ingest.plan``):
:class:`Worker` (one per process with ``--workers N``, see :func:`worker_process`), :func:`unit_rows` (an extract
result turned into one unit's validated facts) and the per-unit results :class:`UnitOutcome` / :class:`WorkerReport`.

Overlap: four stages run at once in each worker. While the extract engine computes group k, a prefetch thread
builds group k+1's models from files already on disk (models loaded for group k are reused, not reloaded), a
download thread claims group k+2 and fetches its hub files (so the network never waits for model building), and a
publish thread publishes group k-1's units (COPY, set-wise validation, INSERT and the unit's aggregates are the
database server's work; see bench/ingest.py). At Pythia scale loading a checkpoint takes about as long as running
the corpus through it, so this hides most of the load time. Memory: two groups' models are alive at once (a group
being published has dropped its models); the group size is chosen for that (``memory.group_limits``). Units are
published in the plan's order (each size's last step first), one transaction each. Every checkpoint is loaded in
the prefetch thread (``WorkerReport.loads`` records which thread loaded what); a hub download that fails for a
reason that may pass is retried there (``suites.loading.DOWNLOAD_ATTEMPTS``), each retry announced on stderr, then
the unit fails with one line.

Cache policy ``evict`` (``Plan.cache_policy``): after a group is published, the publish thread deletes from the
Hub cache every checkpoint of the group whose units (all units of the call that need it, whichever worker or
machine claimed them) are done in the ledger, so a study that does not fit the disk runs in a bounded cache.

KL values in (-1e-6, 0) are float32 rounding of a true 0 and are stored as 0; anything more negative fails
the unit (see :func:`unit_rows`).

A checkpoint that fails to load fails only the units that need it: the group's other units are computed and
published, the worker goes on with the next groups, and the run ends with one line naming the first bad
checkpoint (``WorkerReport.error``). What transformers logs while loading (its LOAD REPORT table, 8+ lines on
stderr) is captured and summarised in that line (:func:`_loading_noise`); weights that transformers would
silently re-initialise (MISSING or MISMATCH in the report) make the checkpoint fail too.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import psycopg

from convdiv import __version__
from convdiv.errors import ConvdivError, describe
from convdiv.ingest.corpus_data import CorpusData, read_corpus
from convdiv.ingest.devices import torch_dtype
from convdiv.ingest.plan import Plan
from convdiv.ingest.units import UnitPlan
from convdiv.warehouse import ledger, queries

Q = queries.beside(__file__)  # the ingest's own queries (convdiv/ingest/sql/)

# KL >= -KL_TOLERANCE is rounding; the validation threshold.
KL_TOLERANCE = 1e-6


# --------------------------------------------------------------------------------------------- results


@dataclass
class UnitOutcome:
    unit_key: str
    status: str  # done | skipped | failed
    rows_checkpoint_token: int = 0
    rows_pair_token: int = 0
    elapsed_s: float = 0.0
    worker: int = 0
    error: str | None = None


@dataclass
class WorkerReport:
    worker: int
    ingest_run_id: int
    outcomes: list[UnitOutcome] = field(default_factory=list)
    forward_passes: int = 0
    error: str | None = None  # set when the worker stopped on an error, or when units failed on bad checkpoints
    warnings: list[str] = field(default_factory=list)  # non-finite weights, download retries
    loads: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint label, thread that loaded it)
    evicted: list[str] = field(default_factory=list)  # --cache-policy evict: checkpoints deleted from the cache
    bad_checkpoints: dict[str, str] = field(default_factory=dict)  # label -> the one-line reason
    compute_s: float = 0.0  # seconds in extract passes
    wait_s: float = 0.0  # seconds the compute thread waited for the prefetch (claim + loads not hidden by compute)


# --------------------------------------------------------------------------------------------- the worker


def unit_rows(plan: Plan, unit: UnitPlan, result, position_ids: np.ndarray, loaded: dict) -> ledger.UnitRows:
    """The facts of one unit from an extract result, validated and with rounding negatives clamped."""
    n = len(position_ids)
    ckpt_cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("checkpoint_id", "position_id", "ce", "entropy", "kl_uniform", "kl_unigram")
    }
    for label in unit.writes:
        stats = np.asarray(result.stats[label], dtype=np.float32)
        _check_values(stats, label, unit, kl_columns=(2, 3), n=n)
        ckpt_cols["checkpoint_id"].append(np.full(n, plan.checkpoint_ids[label], np.int32))
        ckpt_cols["position_id"].append(position_ids)
        for j, name in enumerate(("ce", "entropy", "kl_uniform", "kl_unigram")):
            col = stats[:, j]
            ckpt_cols[name].append(np.maximum(col, 0) if name.startswith("kl") else col)
    pair_cols: dict[str, list[np.ndarray]] = {k: [] for k in ("comparison_id", "position_id", "kl_ab", "kl_ba")}
    for comp in unit.comparisons:
        kl = np.asarray(result.pair_kl[(comp[1], comp[2])], dtype=np.float32)
        _check_values(kl, f"{comp[0]} {comp[1]} vs {comp[2]}", unit, kl_columns=(0, 1), n=n)
        pair_cols["comparison_id"].append(np.full(n, plan.comparison_ids[comp], np.int32))
        pair_cols["position_id"].append(position_ids)
        pair_cols["kl_ab"].append(np.maximum(kl[:, 0], 0))
        pair_cols["kl_ba"].append(np.maximum(kl[:, 1], 0))

    def cat(cols, dtype):
        return {
            k: (np.concatenate(v) if v else np.zeros(0, dtype if k.endswith("_id") else np.float32))
            for k, v in cols.items()
        }

    weights = {}
    for label in unit.writes:
        lc = loaded.get(label)
        if lc is not None:
            weights[plan.checkpoint_ids[label]] = (lc.weights_sha256, lc.n_params)
    return ledger.UnitRows(
        unit_id=unit.unit_id,
        unit_key=unit.key,
        corpus_id=plan.corpus_id,
        config_hash=unit.config_hash,
        owned_checkpoint_ids=list(unit.owned_checkpoint_ids),
        owned_kinds=list(unit.owned_kinds),
        checkpoint_token=cat(ckpt_cols, np.int32),
        pair_token=cat(pair_cols, np.int32),
        expected_checkpoint_rows=n * len(unit.writes),
        expected_pair_rows=n * len(unit.comparisons),
        owns_checkpoint_rows=unit.size is not None,
        weights=weights,
    )


def _check_values(values: np.ndarray, what: str, unit: UnitPlan, kl_columns, n: int) -> None:
    if values.shape[0] != n:
        raise ConvdivError(f"ingest unit {unit.key}: {what}: {values.shape[0]} rows from the engine, expected {n}")
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values))[0][0])
        raise ConvdivError(f"ingest unit {unit.key}: {what}: non-finite value at position row {bad}")
    kl = values[:, list(kl_columns)]
    if kl.size and kl.min() < -KL_TOLERANCE:
        raise ConvdivError(f"ingest unit {unit.key}: {what}: KL {kl.min():.3g} < -{KL_TOLERANCE:g}")


@dataclass(frozen=True)
class _Identity:
    weights_sha256: str | None
    n_params: int


@dataclass
class _Flow:
    """One worker's stages in flight: the group the prefetch thread claims and loads (``pending``), the one this
    thread computes (``group``) and the one the publish thread publishes (``publishing``)."""

    prefetch: ThreadPoolExecutor
    publisher: ThreadPoolExecutor
    candidates: list[ledger.Candidate]
    run_id: int
    data: CorpusData
    pending: Future | None = None
    group: _Group | None = None
    publishing: tuple[Future, _Group] | None = None
    failed_publish: _Group | None = None  # a group whose publish raised: failed when the worker stops


@dataclass
class _Group:
    claim: ledger.Claim
    units: list[UnitPlan]
    loaded: dict  # label -> LoadedCheckpoint
    bad: dict = field(default_factory=dict)  # label -> why it failed to load


class Worker:
    """Claims work groups from the ledger, computes them with the extract engine and publishes each unit."""

    def __init__(
        self,
        plan: Plan,
        index: int = 0,
        on_unit: Callable[[UnitOutcome, int], None] | None = None,
        progress=None,
        should_stop: Callable[[], bool] | None = None,
    ):
        self.plan = plan
        # --follow: once it says stop, no group is claimed and a group claimed but not yet computed is given back;
        # the group being computed is computed and published.
        self.should_stop = should_stop or (lambda: False)
        self.index = index
        self.on_unit = on_unit
        self.progress = progress  # a ProgressBar: fine-grained progress while a group computes
        self.units = {u.unit_id: u for u in plan.units}
        self._order = {u.unit_id: i for i, u in enumerate(plan.units)}
        self._lock = threading.Lock()
        self._current: dict = {}  # models of the group being computed (reused by the prefetch)
        self._needed_by: dict[str, list[int]] = {}  # checkpoint label -> ids of the units that need it
        for u in plan.units:
            for label in u.needs:
                self._needed_by.setdefault(label, []).append(u.unit_id)
        self._evicted: set[str] = set()
        self.report = WorkerReport(worker=index, ingest_run_id=0)
        self._bad: dict[str, str] = {}  # checkpoints that failed to load (not retried by later groups)
        self._heartbeat: ledger.Heartbeat | None = None

    def run(self) -> WorkerReport:
        import torch

        plan = self.plan
        if plan.compute.threads:
            torch.set_num_threads(plan.compute.threads)
        run_id = ledger.start_run(
            plan.conninfo, {**plan.arguments, "worker": self.index, "device": plan.compute.device}, __version__
        )
        report = self.report
        report.ingest_run_id = run_id
        # The run's lease is renewed from now until this method returns (see warehouse/ledger.py, Leases).
        self._heartbeat = ledger.Heartbeat(plan.conninfo, run_id).__enter__()
        try:
            return self._run(run_id)
        finally:
            self._heartbeat.__exit__(None, None, None)

    def _run(self, run_id: int) -> WorkerReport:
        plan, report = self.plan, self.report
        try:
            with ledger.connect(plan.conninfo) as conn:
                data = read_corpus(conn, plan.corpus_id, plan.vocab_size, plan.corpus_name)
        except BaseException:  # cleanup, re-raised: the run is closed as failed whatever stopped the worker
            self._finish_failed(run_id)
            raise
        # Three stages in flight (see the module docstring): the prefetch thread claims and loads group k+1,
        # this thread computes group k, the publish thread publishes group k-1 (its work is mostly the database
        # server's, so it runs alongside the forward passes).
        flow = _Flow(
            prefetch=ThreadPoolExecutor(max_workers=1, thread_name_prefix="convdiv-prefetch"),
            publisher=ThreadPoolExecutor(max_workers=1, thread_name_prefix="convdiv-publish"),
            candidates=[ledger.Candidate(u.unit_id, u.config_hash, u.group) for u in plan.units],
            run_id=run_id,
            data=data,
        )
        # Download-ahead: the group after the prefetched one is claimed and its files fetched meanwhile.
        self._downloader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convdiv-download")
        self._ahead: Future[_Group | None] | None = None
        flow.pending = flow.prefetch.submit(self._claim_and_load, flow.candidates, run_id)
        try:
            while flow.pending is not None and self._step(flow):  # until the prefetch finds no group
                pass
            self._wait_for_publish(flow)
            if report.bad_checkpoints:
                report.error = _bad_checkpoint_summary(report)
            ledger.finish_run(plan.conninfo, run_id, "failed" if report.error else "done")
        except BaseException as exc:  # cleanup, re-raised: every claimed group is failed or given back on any stop
            self._stop_on_error(flow, exc)
            raise
        finally:
            flow.prefetch.shutdown(wait=True)
            flow.publisher.shutdown(wait=True)
            self._abandon_ahead()  # a no-op after a normal end (the last download-ahead found no work)
            self._downloader.shutdown(wait=True)
        return report

    def _next_group(self, flow: _Flow) -> _Group | None:
        """The group the prefetch claimed and loaded (None: no work left)."""
        waited = time.perf_counter()
        pending, flow.pending = flow.pending, None
        assert pending is not None
        try:
            group = pending.result()
        except BaseException as exc:  # bookkeeping, re-raised: a group claimed but not loaded is failed by the caller
            flow.group = getattr(exc, "group", None)
            raise
        self.report.wait_s += time.perf_counter() - waited
        return group

    def _step(self, flow: _Flow) -> bool:
        """Compute the next group and hand it to the publish thread; False when there is nothing more to do."""
        report = self.report
        group = flow.group = self._next_group(flow)
        if group is None:
            return False
        if self.should_stop():  # claimed ahead, not computed: back to pending for the next ingest
            group.claim.abandon()
            group.claim.release()
            flow.group = None
            return False
        with self._lock:
            self._current = dict(group.loaded)
        flow.pending = flow.prefetch.submit(self._claim_and_load, flow.candidates, flow.run_id)
        if group.bad:
            self._fail_bad_units(group, report)
        result, compute_s = self._compute_healthy(group, flow.data, report) if group.units else (None, 0.0)
        report.compute_s += compute_s
        if result is None:  # every unit needed a checkpoint that did not load or whose logits were not finite
            group.claim.release()
            flow.group = None
            return True
        # Publishing needs only the weights' identity: let the models go (the next group may still hold the ones
        # it shares through self._current).
        group.loaded = {k: _Identity(v.weights_sha256, v.n_params) for k, v in group.loaded.items()}
        self._wait_for_publish(flow)  # the previous group's (raises its error)
        flow.publishing = (flow.publisher.submit(self._publish, group, result, compute_s, flow.data, report), group)
        flow.group = None
        return True

    def _wait_for_publish(self, flow: _Flow) -> None:
        if flow.publishing is not None:
            future, published = flow.publishing
            flow.publishing = None
            try:
                future.result()
            except BaseException:  # bookkeeping, re-raised: the group whose publish failed is failed by the caller
                flow.failed_publish = published
                raise

    def _stop_on_error(self, flow: _Flow, exc: BaseException) -> None:
        """The worker stops on ``exc``: a publish in flight finishes (its rows are good), the groups it claimed are
        failed or given back, and the run is closed as failed."""
        report = self.report
        report.error = _message(exc)
        if flow.failed_publish is None and flow.publishing is not None:
            future, in_flight = flow.publishing
            flow.publishing = None
            try:
                future.result()  # a publish in flight finishes: its rows are good
            except Exception as publish_exc:  # noqa: BLE001 - cleanup after the first error: whatever this publish
                # raised fails its own units; the first error is the one reported
                self._fail(in_flight, _message(publish_exc), report)
        if flow.failed_publish is not None:
            self._fail(flow.failed_publish, report.error, report)
            if flow.group is not None:  # computed fine; stopped only because the publish before it failed
                flow.group.claim.abandon()
                flow.group.claim.release()
        elif flow.group is not None:
            self._fail(flow.group, report.error, report)
        if flow.pending is not None:
            try:
                nxt = flow.pending.result()
            except Exception as load_exc:  # noqa: BLE001 - cleanup after the first error: the prefetched group is
                # given back whatever its load raised; the first error is the one reported
                nxt = getattr(load_exc, "group", None)
            if nxt is not None:
                nxt.claim.abandon()
                nxt.claim.release()
        self._abandon_ahead()  # after the prefetch finished: nothing submits a download any more
        self._finish_failed(flow.run_id)

    def _finish_failed(self, run_id: int) -> None:
        """Close the run as failed, unless the database is what failed (the first error is the one reported)."""
        try:
            ledger.finish_run(self.plan.conninfo, run_id, "failed")
        except psycopg.Error:
            pass

    def _warn(self, message: str) -> None:
        if message not in self.report.warnings:
            self.report.warnings.append(message)

    def _retrying(self, message: str) -> None:
        """A download attempt failed and will be retried: say so now (the wait may be long), keep it for the end."""
        print(f"warning: {message}", file=sys.stderr, flush=True)
        self._warn(message)

    def _evict_done(self, group: _Group) -> None:
        """--cache-policy evict: delete the group's hub checkpoints that no unfinished unit of the call needs."""
        from convdiv.suites.loading import evict_hub_checkpoint

        needs = list(dict.fromkeys(label for u in group.units for label in u.needs))
        with ledger.connect(self.plan.conninfo, autocommit=True) as conn:
            for label in needs:
                ref = self.plan.refs[label]
                if ref.revision is None or label in self._evicted:
                    continue
                units = self._needed_by.get(label, [])
                left = conn.execute(Q["units_not_done"], {"unit_ids": units}).fetchall()[0][0]  # a count
                if left == 0:
                    evict_hub_checkpoint(ref)
                    self._evicted.add(label)
                    self.report.evicted.append(label)

    def _fail(self, group: _Group, message: str, report: WorkerReport) -> None:
        try:
            group.claim.fail(message)
        finally:
            group.claim.release()
        for unit in group.units:
            if unit.unit_id not in group.claim.published:
                outcome = UnitOutcome(unit.key, "failed", worker=self.index, error=message)
                report.outcomes.append(outcome)
                if self.on_unit:
                    self.on_unit(outcome, 0)

    def _fail_bad_units(self, group: _Group, report: WorkerReport) -> None:
        """Mark failed the units that need a checkpoint that did not load; the group keeps the others."""
        report.bad_checkpoints.update(group.bad)
        bad_units = [u for u in group.units if any(label in group.bad for label in u.needs)]
        for unit in bad_units:
            message = f"ingest unit {unit.key}: " + next(group.bad[lb] for lb in unit.needs if lb in group.bad)
            # the group's claim holds the unit's lock; a claim of this unit alone marks just this one failed
            dataclasses.replace(group.claim, unit_ids=[unit.unit_id], published=set()).fail(message)
            group.claim.unit_ids = [u for u in group.claim.unit_ids if u != unit.unit_id]
            outcome = UnitOutcome(unit.key, "failed", worker=self.index, error=message)
            report.outcomes.append(outcome)
            if self.on_unit:
                self.on_unit(outcome, 0)
        group.units = [u for u in group.units if u not in bad_units]
        needed = {label for u in group.units for label in u.needs}
        group.loaded = {k: v for k, v in group.loaded.items() if k in needed}

    def _claim(self, candidates, run_id) -> _Group | None:
        plan = self.plan
        if self.should_stop():
            return None
        if self._heartbeat is not None and self._heartbeat.aborted:
            raise ConvdivError(
                f"ingest run {run_id} was aborted by another process (its lease of "
                f"{self._heartbeat.lease_s:g} s expired before a heartbeat renewed it): re-run convdiv "
                "ingest (raise CONVDIV_LEASE_SECONDS if this machine stalls that long)"
            )
        claim = ledger.claim(plan.conninfo, candidates, run_id, limit=plan.group_limit, force_before=plan.force_before)
        if claim is None:
            return None
        # Published in the plan's order, which puts each size's last step first (its final-surprisal bins are
        # then fixed before the earlier steps publish; see units.plan_units).
        units = sorted((self.units[u] for u in claim.unit_ids), key=lambda u: self._order[u.unit_id])
        return _Group(claim=claim, units=units, loaded={})

    def _claim_and_download(self, candidates, run_id) -> _Group | None:
        """Claim a group and fetch the hub files of the checkpoints it needs, building no model (download thread).
        A checkpoint whose download fails is marked bad: only the units that need it fail."""
        from convdiv.suites.loading import download_checkpoint

        group = self._claim(candidates, run_id)
        if group is None:
            return None
        try:
            for label in dict.fromkeys(label for u in group.units for label in u.needs):
                with self._lock:
                    skip = label in self._current or label in self._bad
                if not skip:
                    try:
                        download_checkpoint(self.plan.refs[label], on_retry=self._retrying)
                    except ConvdivError as exc:
                        group.bad[label] = str(exc)
        except BaseException as exc:  # bookkeeping, re-raised: the caller fails the group this thread claimed
            _attach_group(exc, group)
            raise
        return group

    def _abandon_ahead(self) -> None:
        """Give back the group claimed for download-ahead when the worker stops early."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        try:
            nxt = ahead.result()
        except Exception as exc:  # noqa: BLE001 - cleanup after the worker stopped: the group claimed ahead is given
            # back whatever its download raised; the worker already reports its first error
            nxt = getattr(exc, "group", None)
        if nxt is not None:
            nxt.claim.abandon()
            nxt.claim.release()

    def _claim_and_load(self, candidates, run_id) -> _Group | None:
        """The next group with its models built (prefetch thread). Its files were fetched while the group before
        computed; fetching the group after it starts now, so the network stays busy while models are built."""
        from convdiv.suites.loading import load_checkpoint

        plan = self.plan
        ahead, self._ahead = self._ahead, None
        group = ahead.result() if ahead is not None else self._claim_and_download(candidates, run_id)
        if group is None:
            return None
        self._ahead = self._downloader.submit(self._claim_and_download, candidates, run_id)
        needs = list(dict.fromkeys(label for u in group.units for label in u.needs))
        try:
            for label in needs:
                with self._lock:
                    reuse = self._current.get(label)
                    known_bad = self._bad.get(label)
                if reuse is not None:
                    group.loaded[label] = reuse
                    continue
                if known_bad is not None or label in group.bad:
                    group.bad.setdefault(label, known_bad)
                    continue
                ref = plan.refs[label]
                try:
                    with _loading_noise() as noise:
                        loaded = load_checkpoint(
                            ref,
                            device=plan.compute.device,
                            dtype=torch_dtype(plan.compute.dtype),
                            on_retry=self._retrying,
                        )
                except ConvdivError as exc:  # this checkpoint only: its units fail, the others go on
                    group.bad[label] = _load_failure(ref, str(exc), noise)
                    continue
                self.report.loads.append((label, threading.current_thread().name))
                problem = _report_problem(noise)
                if problem is not None:
                    group.bad[label] = f"{ref.describe()}: {problem}"
                    continue
                for warning in loaded.warnings():
                    self._warn(warning)
                group.loaded[label] = loaded
        except BaseException as exc:  # bookkeeping, re-raised: the caller fails the group this thread claimed
            _attach_group(exc, group)
            raise
        if group.bad:
            with self._lock:
                self._bad.update(group.bad)
        return group

    def _compute_healthy(self, group: _Group, data: CorpusData, report: WorkerReport):
        """:meth:`_compute`; a checkpoint whose logits are NaN or infinite fails only the units that need it (like a
        checkpoint that does not load), and the group's other units are computed again without it. Returns (None,
        seconds) when no unit is left."""
        from convdiv.extract.engine import NonFiniteLogits

        spent = 0.0
        while True:
            started = time.perf_counter()
            try:
                result, compute_s = self._compute(group, data, report)
                return result, spent + compute_s
            except NonFiniteLogits as exc:
                spent += time.perf_counter() - started
                label = exc.key
                if not isinstance(label, str) or label not in group.loaded:
                    raise
                group.bad[label] = _nonfinite_reason(self.plan.refs[label], group.loaded[label])
                with self._lock:
                    self._bad[label] = group.bad[label]
                    self._current.pop(label, None)
                self._fail_bad_units(group, report)
                if not group.units:
                    return None, spent

    def _compute(self, group: _Group, data: CorpusData, report: WorkerReport):
        """One extract pass over every model the group needs; returns the result and its seconds."""
        from convdiv.extract.engine import extract_group

        plan = self.plan
        started = time.perf_counter()
        needed = {label for u in group.units for label in u.needs}
        models = {label: lc.model for label, lc in group.loaded.items() if label in needed}
        pairs = list(dict.fromkeys((a, b) for u in group.units for (_, a, b) in u.comparisons))
        on_positions = None
        if self.progress is not None:
            self.progress.group_started(sum(max(1, len(u.writes)) for u in group.units))
            on_positions = self.progress.computing
        ledger.reached("compute")
        result = extract_group(
            models,
            data.documents,
            data.log_unigram,
            plan.vocab_size,
            pairs,
            device=plan.compute.device,
            dtype=torch_dtype(plan.compute.dtype),
            batch_tokens=plan.compute.batch_tokens,
            context_length=plan.compute.context_length,
            window_stride=plan.compute.window_stride,
            progress=on_positions,
        )
        report.forward_passes += int(getattr(result, "forward_passes", 0) or 0)
        return result, time.perf_counter() - started

    def _publish(self, group: _Group, result, compute_s: float, data: CorpusData, report: WorkerReport) -> None:
        """Publish the group's units one transaction each (in the publish thread), then drop its claim."""
        plan = self.plan
        provenance = ledger.Provenance(
            code_version=__version__,
            device=plan.compute.device,
            dtype=plan.compute.dtype,
            batch_tokens=plan.compute.batch_tokens,
        )
        for unit in group.units:
            t0 = time.perf_counter()
            rows = unit_rows(plan, unit, result, data.position_ids, group.loaded)
            # elapsed_s: the unit's share of the group's compute time plus its own publish time.
            share = compute_s * max(1, len(unit.needs)) / max(1, sum(len(u.needs) for u in group.units))

            def elapsed_s(share: float = share, t0: float = t0) -> float:
                return share + time.perf_counter() - t0

            n_ckpt, n_pair = ledger.publish_unit(group.claim, rows, provenance, elapsed_s)
            outcome = UnitOutcome(unit.key, "done", n_ckpt, n_pair, share + time.perf_counter() - t0, self.index)
            report.outcomes.append(outcome)
            if self.on_unit:
                self.on_unit(outcome, max(1, len(unit.writes)))
        group.claim.release()
        if plan.cache_policy == "evict":
            try:
                self._evict_done(group)
            except (OSError, psycopg.Error) as exc:  # a cache left fuller than asked must not fail published units
                self._warn(
                    f"--cache-policy evict: could not evict the checkpoints of {group.units[0].key}: {_message(exc)}"
                )


def _attach_group(exc: BaseException, group: _Group) -> None:
    """Carry the group a prefetch or download claimed on its error, so the caller can mark the group failed
    (read back with ``getattr(exc, "group", None)``)."""
    setattr(exc, "group", group)  # noqa: B010 - `exc.group = group` does not type-check: exceptions declare no group


def _nonfinite_reason(ref, loaded) -> str:
    """One line for a checkpoint whose logits were NaN or infinite, naming the weight tensors that hold NaN or inf."""
    tensors = getattr(loaded, "nonfinite", ())
    where = (
        f"; its weights hold NaN/inf in {len(tensors)} tensor(s): {'; '.join(tensors[:3])}"
        if tensors
        else " (its weights are finite: the forward pass overflows; try --dtype float32)"
    )
    return f"{ref.describe()}: produced NaN or infinite logits{where}"


def _message(exc: BaseException) -> str:
    return describe(exc)


def _bad_checkpoint_summary(report: WorkerReport) -> str:
    failed = [o for o in report.outcomes if o.status == "failed"]
    label, reason = next(iter(report.bad_checkpoints.items()))
    more = len(report.bad_checkpoints) - 1
    others = f" (and {more} more checkpoint(s); see ingest_unit.error)" if more else ""
    return (
        f"{len(failed)} ingest unit(s) failed on a bad checkpoint (it did not load, or its logits were NaN or infinite), the others were published: "
        f"{reason}{others}; fix or replace the checkpoint and run the ingest again"
    )


# --------------------------------------------------------------------------------------------- library noise

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Noise(logging.Handler):
    """Collects what the transformers loggers emit in one thread (other threads' records pass untouched)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(_ANSI.sub("", record.getMessage()))

    def others_only(self, record: logging.LogRecord) -> bool:
        """Filter for the library's own handlers: let through only other threads' records."""
        return record.thread != self.thread


@contextmanager
def _loading_noise() -> Iterator[_Noise]:
    """While loading a checkpoint in this thread, take transformers' log records (its LOAD REPORT table, printed
    to stderr before it raises "look at the above report!") off the terminal and keep them for the error line."""
    root = logging.getLogger("transformers")
    noise = _Noise()
    handlers = list(root.handlers)
    for h in handlers:
        h.addFilter(noise.others_only)
    root.addHandler(noise)
    try:
        yield noise
    finally:
        root.removeHandler(noise)
        for h in handlers:
            h.removeFilter(noise.others_only)


# One row of the LOAD REPORT table: "key | STATUS | details".
_REPORT_ROW = re.compile(r"^\s*(\S+)\s*\|\s*(MISSING|MISMATCH|UNEXPECTED|CONVERSION)\s*\|\s*(.*?)\s*$")
_SHAPES = re.compile(r"ckpt:\s*torch\.Size\((\[[^\]]*\])\)\s*vs\s*model:\s*torch\.Size\((\[[^\]]*\])\)")


def _report_rows(noise: _Noise) -> list[tuple[str, str, str]]:
    rows = []
    for message in noise.messages:
        if "LOAD REPORT" not in message:
            continue
        for line in message.splitlines():
            m = _REPORT_ROW.match(line)
            if m:
                rows.append((m[1], m[2], m[3]))
    return rows


def _report_problem(noise: _Noise) -> str | None:
    """One line for the weights transformers would not take from the checkpoint as they are (MISSING ones are
    randomly initialised, MISMATCHed ones re-initialised); None when the report names none (UNEXPECTED keys, such
    as old checkpoints' attention buffers, are harmless)."""
    bad = [r for r in _report_rows(noise) if r[1] != "UNEXPECTED"]
    if not bad:
        return None
    parts = []
    for key, status, details in bad[:2]:
        shapes = _SHAPES.search(details)
        if status == "MISMATCH" and shapes:
            parts.append(f"{key} has shape {shapes.group(1)} in the checkpoint but {shapes.group(2)} in config.json")
        elif status == "MISSING":
            parts.append(f"{key} is missing from the checkpoint")
        else:
            parts.append(f"{key}: {status.lower()} {details}".strip())
    more = f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""
    return (
        "weights do not match the model's config.json: "
        + "; ".join(parts)
        + more
        + "; re-save the checkpoint with save_pretrained or fix its config.json"
    )


def _load_failure(ref, message: str, noise: _Noise) -> str:
    """The loader's one line, with transformers' "look at the above report!" replaced by the report's gist."""
    problem = _report_problem(noise)
    if problem is not None and "report" in message:
        return f"{ref.describe()}: {problem}"
    return message


def worker_process(plan: Plan, index: int, reports=None) -> WorkerReport:
    """Entry point of a worker process (``--workers N``): the report always comes back, with ``error`` set when the
    worker stopped on one (its outcomes and warnings are kept). ``reports``, a multiprocessing queue, gets
    ``(index, report)``; a process killed before it puts one there is noticed by the parent (``run``)."""
    from psycopg.conninfo import conninfo_to_dict

    from convdiv.errors import note_connection

    params = conninfo_to_dict(plan.conninfo)
    user, host = params.get("user"), params.get("host")  # strings, as parsed from a connection string
    # so database errors name the user, as in the parent
    note_connection(str(user) if user is not None else None, str(host) if host is not None else None)
    report = run_worker(plan, index)
    if reports is not None:
        reports.put((index, report))
    return report


def run_worker(plan: Plan, index: int, on_unit=None, progress=None, should_stop=None) -> WorkerReport:
    """One :class:`Worker` run whose report comes back even when it stops on an error (``report.error``, one line:
    translated here, where the chain of errors is still known)."""
    worker = Worker(plan, index, on_unit=on_unit, progress=progress, should_stop=should_stop)
    try:
        return worker.run()
    except Exception as exc:  # noqa: BLE001 - a worker's top (a process of its own under --workers): whatever
        # stopped it is reported in one line with its outcomes and warnings, never as a traceback
        report = worker.report
        report.error = str(exc) if isinstance(exc, ConvdivError) else describe(exc, f"ingest worker {index} failed")
        return report

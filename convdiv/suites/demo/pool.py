"""Training the runs a suite still lacks: in this process, or in a pool of spawned processes, with one progress
bar per run (workers send their progress through a queue)."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from queue import Empty
from typing import TYPE_CHECKING

from convdiv.suites.demo.run import RunJob, train_run

if TYPE_CHECKING:
    from multiprocessing.queues import Queue


def run_jobs(root, cfg, todo, train_ids, val_ids, vocab_len, n_workers, progress, stop_after) -> None:
    """Train every (label, arch, seed) in ``todo`` with ``n_workers`` processes; a worker's error is re-raised."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not todo:
        return
    jobs = [RunJob(str(root), cfg, label, arch, seed, vocab_len, stop_after) for label, arch, seed in todo]
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, disable=not progress, transient=False) as bar:
        tasks = {
            (j.label, j.seed): bar.add_task(f"{cfg.name} {j.label}/seed{j.seed}", total=cfg.max_step, loss="")
            for j in jobs
        }

        def report(label, seed, step, loss):
            bar.update(tasks[(label, seed)], completed=step, loss=f"loss {loss:.3f}" if loss is not None else "")

        if n_workers == 1:
            for job in jobs:
                train_run(job, train_ids, val_ids, report)
            return
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # fork after torch has started threads is unsafe
        queue = ctx.Queue()
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_worker_init, initargs=(queue,)) as pool:
            futures = [pool.submit(_worker_train, job, train_ids, val_ids) for job in jobs]
            pending = set(futures)
            while pending:
                _drain(queue, report)
                done = [f for f in pending if f.done()]
                for f in done:
                    pending.discard(f)
                    f.result()  # re-raise a worker's error here
                if pending:
                    try:
                        report(*queue.get(timeout=0.2))
                    except Empty:  # nothing within 0.2 s: poll the futures again
                        pass
            _drain(queue, report)


def _drain(queue, report) -> None:
    while True:
        try:
            report(*queue.get_nowait())
        except Empty:
            return


_QUEUE: Queue | None = None  # a pool worker's: set by _worker_init


def _worker_init(queue: Queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _worker_train(job: RunJob, train_ids, val_ids) -> None:
    queue = _QUEUE
    if queue is None:
        raise RuntimeError("_worker_train runs in a pool whose initializer is _worker_init")
    train_run(job, train_ids, val_ids, lambda *msg: queue.put(msg))

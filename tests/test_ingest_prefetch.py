"""The prefetch thread is what loads checkpoints: the worker's own thread only computes, so downloads and loads
of the next group overlap the current group's forward passes (bench/prefetch.py measures the overlap)."""

from __future__ import annotations

import threading

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S


def test_every_checkpoint_is_loaded_by_the_prefetch_thread(engine, settings, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    # A budget for one unit per claim: several groups, so prefetching the next group happens while one computes.
    summary = ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", progress=False, memory_budget_gb=0.001)
    [report] = summary.workers
    assert summary.units_done == len(S.STEPS)
    loaded = [label for label, _ in report.loads]
    threads = {thread for _, thread in report.loads}
    assert all(t.startswith("convdiv-prefetch") for t in threads), threads
    assert threading.current_thread().name not in threads
    # Every checkpoint of the selection; a step's models are reused as the next group's previous step, so only a
    # group that does not follow its previous step (the last step goes first, see plan_units) loads it again.
    assert set(loaded) == {f"xs/seed{s}/step{t}" for s in S.SEEDS for t in S.STEPS}, report.loads
    assert len(loaded) <= len(S.SEEDS) * (len(S.STEPS) + 1), report.loads

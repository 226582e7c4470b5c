"""Progress of an ingest: the live bar of one call, and progress lines read from the ledger.

:class:`ProgressBar` (a rich bar on stderr, checkpoints done / total with ETA) follows the units this call's
workers publish; :func:`ledger_progress` prints lines from the ledger instead (units of a corpus finished since it
started, whichever process or machine finished them), for `convdiv ingest` and `convdiv demo` when their progress
goes to a log, where a live bar would print only once, at the end.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from convdiv.warehouse import queries

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from convdiv.ingest.worker import UnitOutcome

Q = queries.beside(__file__)


@contextlib.contextmanager
def ledger_progress(engine, corpus: str, what: str | None = None):
    """Progress lines from the ledger (units of ``corpus`` finished since now), whatever the workers do."""
    from convdiv import progress

    with engine.connect() as conn:
        since = conn.exec_driver_sql(Q["now"]).scalar_one()  # the server's clock, as finished_at's

    def poll():
        with engine.connect() as conn:
            row = conn.exec_driver_sql(Q["ingest_progress"], {"since": since, "corpus": corpus}).one()
        return row.done, row.total or None, f"{row.running} running" if row.running else ""

    with progress.step(what or f"ingest on {corpus}", unit="units", poll=poll) as step:
        yield step


class ProgressBar:
    """rich progress bar: checkpoints done / total with ETA (silent when disabled).

    A checkpoint counts as done when its unit is published; while a group computes, the bar moves with the
    engine's positions (up to 95% of the group, the rest when its units are published).
    """

    def __init__(self, enabled: bool, total: int, n_units: int):
        self.enabled = enabled
        self.total = total
        self.n_units = n_units
        self.todo_ids: set[int] = set()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._published = 0.0
        self._group_weight = 0.0
        self._group_published = 0.0
        self._computed = 0.0

    def __enter__(self):
        if self.enabled and self.total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]ingest[/bold] checkpoints"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
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
        if self._progress is not None and self._task is not None:  # both set, or neither
            pending = max(0.0, self._computed - self._group_published)
            completed = int(self._published + pending)
            if unit:
                self._progress.update(self._task, completed=completed, unit=unit)
            else:  # the unit shown stays
                self._progress.update(self._task, completed=completed)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False

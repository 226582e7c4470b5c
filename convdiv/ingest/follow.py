"""`convdiv ingest SUITE --follow`: ingest a local training run while it writes its checkpoints.

Following is a loop of ordinary ingest calls (:func:`convdiv.ingest.run.run` with ``request.follow``), one each time
the set of complete checkpoints changes:

- **complete**: a checkpoint folder is read only once it holds the marker ``convdiv.complete``
  (``convdiv.suites.markers``), written after every other file (the demo trainer writes it into a temporary folder
  that it then renames into place). A folder without it, half-written or not, is never opened: not its weights,
  not its config.json, not its safetensors header;
- **waiting, not failed**: a unit (one size at one step: every seed at that step, and every seed at the step
  before for the consecutive-step comparisons) is planned once every checkpoint it needs is complete; until then it
  waits and is named in the progress lines (``waiting for ...``). The grid is the one declared when following
  starts: the folder's ``suite.toml``, else its ``training.toml`` (the demo trainer writes it when it starts), or a
  ``.toml`` spec file given as SUITE. A folder whose grid is only what is on disk is refused: every new seed would
  change every unit and recompute it;
- **stopping**: SIGINT (Ctrl-C) or SIGTERM asks the worker to stop: the work group it is computing (one extract
  pass over a few units) is computed and published, each unit in its own transaction, groups claimed ahead are
  given back as pending, and the command ends. A second signal acts at once (SIGINT: KeyboardInterrupt, the units
  in progress are marked failed and retried by the next ingest; SIGTERM: the default, as ``kill``): a publish
  transaction is then rolled back by the server and the ledger gives the unit back (docs/cluster.md), so a unit is
  never half published either way;
- **exit status**: 0 when every unit of the grid is done (following then ends by itself, or a signal came when
  nothing was left to wait for); 1 when a unit failed (following ends at once); :data:`FOLLOW_STOPPED_EXIT` (4)
  when a signal stopped it while units still waited for checkpoints: run the same command again to go on.

The report can be built at any moment: each unit is published in one transaction with the aggregates it changes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.ingest.request import IngestRequest
from convdiv.ingest.run import IngestError, IngestSummary, run

FOLLOW_POLL_S = 5.0  # seconds between looks at the folder (--poll-seconds)
FOLLOW_NOTE_S = 60.0  # the waiting line is repeated this often when nothing changes
FOLLOW_STOPPED_EXIT = 4  # stopped by a signal while units still waited for checkpoints


class FollowStopped(ConvdivError):
    """``--follow`` stopped by SIGINT/SIGTERM while units still wait for checkpoints; ``summary`` says what was done.
    Exit status :data:`FOLLOW_STOPPED_EXIT`."""

    exit_code = FOLLOW_STOPPED_EXIT

    def __init__(self, signal_name: str, summary: IngestSummary):
        super().__init__(
            f"stopped by {signal_name}: {summary.units_done} unit(s) done while following, {summary.units_waiting} "
            f"still waiting ({_waiting_list(summary.waiting_units)}); run the same command again to go on following"
        )
        self.summary = summary


def follow_source(suite: str, settings: Settings) -> str:
    """What to follow: a local suite folder (or a demo suite's name) stands for its ``suite.toml``, else its
    ``training.toml``; anything else is passed on as given (``prepare`` refuses hub suites and undeclared grids)."""
    from convdiv.suites.markers import TRAINING_SPEC
    from convdiv.suites.spec import DEMO_SUITES, SUITE_FILE

    key = str(suite).strip()
    path = Path(key).expanduser()
    named = settings.suites_dir / key
    if key in DEMO_SUITES:
        root = named
    elif path.is_dir():
        root = path
    elif key and "/" not in key and not key.endswith(".toml") and named.is_dir():
        root = named
    else:
        return key
    for name in (SUITE_FILE, TRAINING_SPEC):
        if (root / name).is_file():
            return str(root / name)
    if key in DEMO_SUITES:
        raise ConvdivError(
            f"suite {key!r} is not being trained ({root} has no {TRAINING_SPEC}): start `{DEMO_SUITES[key]}` first, "
            "then follow it"
        )
    return key


def follow(
    engine,
    settings: Settings,
    request: IngestRequest,
    *,
    progress: bool = True,
    notes: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Ingest ``request``'s suite as its checkpoints become complete until every unit is done (returns the summary
    of everything done while following) or a signal stops it (:class:`FollowStopped` while units still wait); a
    failed unit ends it with :class:`IngestError`. See the module doc."""
    from convdiv.ingest.register import check_follow_suite
    from convdiv.suites.spec import get_suite

    say = notes or (lambda line: None)
    request = replace(request, suite=follow_source(request.suite, settings), follow=True)
    spec = get_suite(request.suite, settings)
    check_follow_suite(spec, request.suite)  # a local folder with a declared grid, before any look at it
    poll_s = float(request.poll_seconds or FOLLOW_POLL_S)
    grid = [ref.path for ref in spec.checkpoints()]
    total = _Totals()
    seen: frozenset[str] | None = None
    last_note, last_waiting = 0.0, None
    with _StopSignals() as stop:
        while True:
            complete = _complete(grid)
            if complete != seen:
                seen = complete
                try:
                    summary = run(
                        engine, settings, request, progress=progress, notes=total.once(say), should_stop=stop.is_set
                    )
                except IngestError as exc:
                    raise IngestError(str(exc), total.add(exc.summary)) from None
                merged = total.add(summary)
                if not summary.waiting_units:
                    say(f"following {summary.suite}: every unit is done, following ends")
                    return merged
            if stop.signal_name is not None:
                break
            waiting = merged.waiting_units
            now = time.monotonic()
            if waiting != last_waiting or now - last_note >= FOLLOW_NOTE_S:
                say(
                    f"following {merged.suite}: {merged.units_done} unit(s) done, {len(waiting)} waiting for "
                    f"checkpoints ({_waiting_list(waiting)}); a checkpoint is read once its folder holds "
                    f"convdiv.complete; next look in {poll_s:g} s (Ctrl-C or SIGTERM stops)"
                )
                last_note, last_waiting = now, waiting
            if stop.wait(poll_s):
                break
    raise FollowStopped(stop.signal_name or "a signal", merged)


def _complete(paths: list[str]) -> frozenset[str]:
    from convdiv.suites.markers import checkpoint_complete

    return frozenset(p for p in paths if checkpoint_complete(p))


def _waiting_list(waiting: dict[str, str], shown: int = 3) -> str:
    items = [f"{key} {why}" for key, why in list(waiting.items())[:shown]]
    more = f" and {len(waiting) - shown} more" if len(waiting) > shown else ""
    return "; ".join(items) + more


class _Totals:
    """The ingest calls of one follow added up: units done by any of them, those done before following began
    (skipped by the first call), rows, outcomes; the waiting units are the last call's."""

    def __init__(self) -> None:
        self.summary: IngestSummary | None = None
        self.started = time.perf_counter()
        self.shown: set[str] = set()

    def once(self, say: Callable[[str], None]) -> Callable[[str], None]:
        """``say`` for the lines of one call, each line said once while following (the windows, the warnings)."""

        def note(line: str) -> None:
            if line not in self.shown:
                self.shown.add(line)
                say(line)

        return note

    def add(self, s: IngestSummary) -> IngestSummary:
        t = self.summary
        if t is None:
            self.summary = t = replace(s, outcomes=list(s.outcomes), warnings=list(s.warnings))
        else:
            t.outcomes += [o for o in s.outcomes if o.status != "skipped"]
            t.warnings += [w for w in s.warnings if w not in t.warnings]
            t.units_done += s.units_done
            t.units_failed += s.units_failed
            t.units_elsewhere += s.units_elsewhere
            t.rows_checkpoint_token += s.rows_checkpoint_token
            t.rows_pair_token += s.rows_pair_token
            t.workers += s.workers
            t.units_total, t.units_missing, t.missing_units = s.units_total, s.units_missing, s.missing_units
            t.units_running, t.running_units, t.waiting_units = s.units_running, s.running_units, s.waiting_units
        t.elapsed_s = time.perf_counter() - self.started
        return t


class _StopSignals:
    """SIGINT and SIGTERM set a flag the worker reads before each claim (and the loop between looks); the first
    one also puts the previous handlers back, so a second signal acts at once."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def is_set(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)

    def _handle(self, signum, frame) -> None:
        self.signal_name = signal.Signals(signum).name
        self._restore()
        # os.write, not print: a handler may run while the main thread is inside a write to the same stream
        os.write(
            2,
            f"{self.signal_name}: stopping once the work group in progress is published (send it again to stop at "
            "once)\n".encode(),
        )
        self.event.set()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

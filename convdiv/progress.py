"""Progress of long steps that shows up where the user looks: a terminal or a batch log (nohup, Slurm).

On a terminal (stderr is a TTY) a step shows a one-line status that updates in place. Anywhere else it prints
plain lines to stderr: one when it starts, one every ``every`` seconds (default 30, ``--progress-every`` or
``CONVDIV_PROGRESS_EVERY``) with done/total, rate and ETA, and one when it ends, so a log shows what runs and how
far it got. ``--quiet`` (or ``CONVDIV_QUIET=1``) silences both.

Library code reports through ``step(...)`` unconditionally; nothing is shown unless the command line enabled it
(``configure``), so the Python API, tests and benches stay silent.

    with progress.step("corpus add demo: tag", total=n_chars, unit="characters") as p:
        for chunk in chunks:
            ...
            p.advance(len(chunk))
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from rich.status import Status

DEFAULT_EVERY_S = 30.0


class _Config:
    enabled = False
    quiet = False
    every = DEFAULT_EVERY_S
    stream: TextIO | None = None  # None: sys.stderr at the time of writing
    force_lines = False  # tests: plain lines even on a terminal


def configure(
    *,
    enabled: bool = True,
    quiet: bool | None = None,
    every: float | None = None,
    stream: TextIO | None = None,
    force_lines: bool = False,
) -> None:
    """Turn progress reporting on (the CLI does, once per command). ``quiet`` and ``every`` default to the
    environment (``CONVDIV_QUIET``, ``CONVDIV_PROGRESS_EVERY``)."""
    if quiet is None:
        quiet = os.environ.get("CONVDIV_QUIET", "") not in ("", "0")
    if every is None:
        every = float(os.environ.get("CONVDIV_PROGRESS_EVERY") or DEFAULT_EVERY_S)
    if not every > 0:
        raise ValueError("the progress interval must be a positive number of seconds")
    _Config.enabled, _Config.quiet, _Config.every = enabled, quiet, every
    _Config.stream, _Config.force_lines = stream, force_lines


def active() -> bool:
    return _Config.enabled and not _Config.quiet


def _stream() -> TextIO:
    return _Config.stream or sys.stderr


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and not _Config.force_lines
    except (AttributeError, ValueError):
        return False


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _number(x: float) -> str:
    if abs(x) >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) >= 1 else f"{x:.2g}"  # slow rates (units/s) keep two significant digits


class Step:
    """One long step: ``advance``/``update`` as work is done; ``note`` changes the detail text (e.g. a section).

    Thread-safe: a background ticker prints the periodic line even while the work blocks (a long SQL query).
    """

    def __init__(self, what: str, total: float | None = None, unit: str = "", *, ticker: bool = True, poll=None):
        self.what = what
        self._poll = poll  # () -> (done, total[, detail]): asked before each periodic line, for work done elsewhere
        self.total = total
        self.unit = unit
        self.done = 0.0
        self.detail = ""
        self._on = active()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._status: Status | None = None
        self._thread: threading.Thread | None = None
        self._ticker = ticker
        self._lines = self._on and not _is_terminal(_stream())

    # -------------------------------------------------------------------------------------- lifecycle

    def __enter__(self) -> Step:
        self._started = time.monotonic()
        if not self._on:
            return self
        if self._lines:
            total = f" ({_number(self.total)} {self.unit})".rstrip() if self.total else ""
            self._write(f"{self.what}: started{total}")
            if self._ticker:
                self._thread = threading.Thread(target=self._tick, name="convdiv-progress", daemon=True)
                self._thread.start()
        else:
            from rich.console import Console

            self._status = Console(file=_stream()).status(self._text())
            self._status.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._status is not None:
            self._status.__exit__(exc_type, exc, tb)
        if self._on:
            self._polled()
            elapsed = time.monotonic() - self._started
            if exc_type is None:
                amount = f"{_number(self.done)} {self.unit} " if self.unit else ""
                rate = f", {_number(self.done / elapsed)} {self.unit}/s" if self.unit and elapsed > 0 else ""
                self._write(f"{self.what}: done {amount}in {format_seconds(elapsed)}{rate}", always=True)
            else:
                self._write(
                    f"{self.what}: stopped after {format_seconds(elapsed)} "
                    f"({_number(self.done)}{'/' + _number(self.total) if self.total else ''} {self.unit})",
                    always=True,
                )
        return False

    # -------------------------------------------------------------------------------------- updates

    def advance(self, amount: float = 1) -> None:
        with self._lock:
            self.done += amount
        self._refresh()

    def update(self, done: float, total: float | None = None) -> None:
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
        self._refresh()

    def note(self, detail: str) -> None:
        with self._lock:
            self.detail = detail
        self._refresh()

    # -------------------------------------------------------------------------------------- output

    def _refresh(self) -> None:
        if self._status is not None:
            self._status.update(self._text())

    def _tick(self) -> None:
        while not self._stop.wait(_Config.every):
            self._polled()
            self._write(self._text())

    def _polled(self) -> None:
        if self._poll is None:
            return
        try:
            done, total, *detail = self._poll()
        # Broad on purpose, a thread boundary: the caller's poll (a database count, say) runs in the ticker thread,
        # where an error would print a traceback and stop the bar; whatever it raises, progress must not break the work.
        except Exception:  # noqa: BLE001 - see above
            return
        self.update(done, total)
        if detail:
            self.note(detail[0])

    def _text(self) -> str:
        with self._lock:
            done, total, detail = self.done, self.total, self.detail
        elapsed = time.monotonic() - self._started
        parts = [f"{self.what}:"]
        if total:
            parts.append(f"{_number(done)}/{_number(total)} {self.unit} ({100 * done / total:.0f}%)")
        elif self.unit:
            parts.append(f"{_number(done)} {self.unit}")
        if self.unit and elapsed > 0 and done > 0:
            rate = done / elapsed
            parts.append(f"{_number(rate)} {self.unit}/s")
            if total:
                parts.append(f"ETA {format_seconds(max(0.0, total - done) / rate)}")
        parts.append(f"elapsed {format_seconds(elapsed)}")
        text = parts[0] + " " + ", ".join(parts[1:])
        return f"{text} [{detail}]" if detail else text

    def _write(self, text: str, *, always: bool = False) -> None:
        if not self._lines and not always:
            return
        if self._status is not None:  # the terminal's status line: its final line goes through it
            self._status.console.print(text, highlight=False, markup=False)
            return
        stream = _stream()
        stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        stream.flush()


def step(what: str, total: float | None = None, unit: str = "", *, ticker: bool = True, poll=None) -> Step:
    """A progress ``Step`` (a context manager); silent unless the command line turned progress on.

    ``poll``: a callable returning (done, total) or (done, total, detail), asked before every periodic line, for
    work that reports elsewhere (an ingest's units in the ledger)."""
    return Step(what, total, unit, ticker=ticker, poll=poll)


def lines_in_logs() -> bool:
    """True when progress is on and goes to a log (stderr is not a terminal): plain lines, not a live bar."""
    return active() and not _is_terminal(_stream())

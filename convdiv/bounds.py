"""The ranges of every numeric knob, checked before any work (issue 24): what fits the columns and the memory.

Click options use :class:`Number` (whole or real, finite, within ``[minimum, maximum]``): a value outside, a
non-number, NaN or infinity is one line naming the option, exit 2, before the database or a model is touched. The
environment knobs (``CONVDIV_LEASE_SECONDS``, ``CONVDIV_LOCK_TIMEOUT``) are checked by :func:`check_environment`
when the command line starts. Where each maximum comes from is said beside it; docs/operations.md lists them.
"""

from __future__ import annotations

import math
import os

import click

from convdiv.errors import ConvdivError

# Tokens per forward batch: the logits of one batch are batch x |V| float32 (2^20 tokens x Pythia's 50,304 words
# is 211 GB, beyond any one device), and ingest_unit.batch_tokens is a 4-byte integer.
MAX_BATCH_TOKENS = 2**20
# Context length: 2^20 positions is far beyond any suite's max_position_embeddings (Pythia: 2,048); local models
# are checked against their own limit, hub models once loaded.
MAX_CONTEXT_LENGTH = 2**20
# Worker processes of one ingest: each holds its own models; more than cores only adds contention (a warning).
MAX_WORKERS = 256
# Memory budget in GiB: 2^20 GiB (1 PiB) is beyond any machine; the budget only sizes work groups.
MAX_MEMORY_GB = float(2**20)
# Parquet rows per batch: ~100 bytes a row in Arrow; 5 x 10^7 rows is ~5 GB per batch.
MAX_BATCH_ROWS = 50_000_000
# Seconds (leases, lock waits, progress period): at most a day. PostgreSQL's lock_timeout is int milliseconds
# (at most ~24.8 days), intervals overflow far later.
MAX_SECONDS = 86_400.0


class Number(click.ParamType):
    """A whole (``whole=True``) or real number in ``[minimum, maximum]`` (``minimum`` excluded when
    ``min_open``), finite; anything else fails with the range to give."""

    def __init__(self, minimum: float, maximum: float, *, whole: bool, min_open: bool = False) -> None:
        self.minimum, self.maximum, self.whole, self.min_open = minimum, maximum, whole, min_open
        self.name = "integer" if whole else "float"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip()) if self.whole else float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a {'whole ' if self.whole else ''}number: {self.describe()}", param, ctx)
        if not self.fits(number):
            self.fail(f"{value!r} is out of range: {self.describe()}", param, ctx)
        return number

    def fits(self, number: float) -> bool:
        if not math.isfinite(number) or number > self.maximum:
            return False
        return number > self.minimum if self.min_open else number >= self.minimum

    def describe(self) -> str:
        low = f"{'>' if self.min_open else '>='} {self.minimum:g}"
        return f"give a {'whole ' if self.whole else ''}number {low} and <= {self.maximum:,g}"


def env_seconds(name: str, default: float, minimum: float = 0.001) -> float:
    """A number of seconds from environment variable ``name`` (unset or empty: ``default``), or one line."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and minimum <= value <= MAX_SECONDS):
        raise ConvdivError(
            f"{name}={raw[:40]!r} is invalid: give a number of seconds from {minimum:g} to {MAX_SECONDS:,g} (or "
            f"unset it for the default {default:g})"
        )
    return value


def check_environment() -> None:
    """The numeric environment knobs, checked when a command starts (before any connection)."""
    env_seconds("CONVDIV_LEASE_SECONDS", 60.0, minimum=1.0)
    env_seconds("CONVDIV_LOCK_TIMEOUT", 60.0)

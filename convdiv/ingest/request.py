"""One ingest call's request: which suite and corpus, which selection of it, and how to compute it.

The one home of the ingest's knobs and of their checks: the `convdiv ingest` command (or
:func:`convdiv.ingest.run.ingest`) builds an :class:`IngestRequest` from its options, and the request checks and
normalises itself as it is made (``sizes="xs,s"`` or ``["xs", "s"]`` become ``("xs", "s")``; comparison aliases
become their kinds; ``--devices`` sets the number of workers). A bad knob is refused in one line naming it before
anything is registered, claimed or loaded. What needs the machine or the warehouse is resolved after it:
:mod:`convdiv.ingest.devices` (is CUDA there?), then :func:`convdiv.ingest.register.prepare` (the suite, the corpus).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from convdiv import bounds
from convdiv.errors import ConvdivError
from convdiv.textlimits import check_name
from convdiv.warehouse import ledger
from convdiv.warehouse.models import COMPARISON_KINDS

Selection = str | int | Iterable[str | int] | None  # comma-separated strings allowed; None: all of the suite's

DEFAULT_COMPARISONS = ("seed_pair", "consecutive_step")
_COMPARISON_ALIASES = {
    "seed_pair": "seed_pair",
    "seed_pairs": "seed_pair",
    "seeds": "seed_pair",
    "consecutive_step": "consecutive_step",
    "consecutive_steps": "consecutive_step",
    "steps": "consecutive_step",
    "cross_size": "cross_size",
    "cross_sizes": "cross_size",
}
CACHE_POLICIES = ("keep", "evict")


@dataclass(frozen=True)
class IngestRequest:
    """The knobs as given, checked and normalised on creation (see the module doc); frozen, so a checked request
    stays checked (``dataclasses.replace`` checks the new one)."""

    suite: str  # a suite name (pythia, demo, ...) or a local suite folder
    corpus: str  # a loaded corpus (`convdiv corpus list`)
    sizes: Selection = None  # normalised: a tuple of labels, () for all of the suite's
    seeds: Selection = None  # normalised: a tuple of strings, () for all
    steps: Selection = None  # normalised: a tuple of strings, () for all
    comparisons: str | Iterable[str] | None = DEFAULT_COMPARISONS  # seed_pairs, consecutive_steps, cross_size;
    # normalised: the kinds in COMPARISON_KINDS order
    device: str = "auto"  # auto, cpu, cuda or cuda:N (normalised: the first of --devices when they are given)
    dtype: str = "auto"  # auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16, float16
    batch_tokens: int | None = None  # None: plan.DEFAULT_BATCH_TOKENS
    context_length: int | None = None  # None: the corpus's window, else the models' max_position_embeddings
    workers: int = 1  # worker processes claiming units from the ledger (normalised: one per --devices entry)
    devices: str | Iterable[str] | None = None  # one worker process per entry (cuda:0,cuda:1); overrides device;
    # normalised: a tuple, () when not given
    cache_policy: str = "keep"  # evict: delete a hub checkpoint once every unit needing it is done
    force: bool = False  # recompute units already done
    memory_budget_gb: float | None = None  # None: sized from free RAM / GPU memory
    name: str | None = None  # store the suite under this name instead of its own (normalised: stripped)
    wait: bool = True  # wait for units other live workers are computing (False: list them, exit status 3)
    follow: bool = False  # local suites: plan only units whose checkpoints are complete (suites.markers); the CLI
    # keeps following (convdiv.ingest.follow) until every unit is done or a signal stops it
    poll_seconds: float | None = None  # --follow: seconds between looks at the suite folder (None: FOLLOW_POLL_S)

    def __post_init__(self) -> None:
        check_numbers(self)
        name = check_suite_name(self.name)
        ledger.lease_seconds()  # a bad CONVDIV_LEASE_SECONDS is refused before anything is registered
        comparisons = parse_comparisons(self.comparisons)
        if self.cache_policy not in CACHE_POLICIES:
            raise ConvdivError(f"--cache-policy must be one of {', '.join(CACHE_POLICIES)}, not {self.cache_policy!r}")
        devices, workers, device = _devices(self)
        _set = object.__setattr__  # frozen: the normalised values are set once, here
        _set(self, "sizes", tuple(split_list(self.sizes)))
        _set(self, "seeds", tuple(split_list(self.seeds)))
        _set(self, "steps", tuple(split_list(self.steps)))
        _set(self, "comparisons", comparisons)
        _set(self, "devices", devices)
        _set(self, "workers", workers)
        _set(self, "device", device)
        _set(self, "name", name)
        if self.follow:
            check_follow(self)
        elif self.poll_seconds is not None:
            raise ConvdivError(
                "--poll-seconds is how often --follow looks at the suite folder: add --follow or leave it out"
            )

    # The normalised values, typed as they are after __post_init__ (the fields' types say what a caller may give).

    def selected(self, dimension: str) -> tuple[str, ...]:
        """``sizes``, ``seeds`` or ``steps`` as a tuple of strings (() for all of the suite's)."""
        return cast(tuple[str, ...], getattr(self, dimension))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The comparison kinds, in COMPARISON_KINDS order."""
        return cast(tuple[str, ...], self.comparisons)

    @property
    def device_list(self) -> tuple[str, ...]:
        """``--devices`` as a tuple (() when not given)."""
        return cast(tuple[str, ...], self.devices)


def split_list(values) -> list[str]:
    """A selection as a list of strings: ``"xs,s"``, ``["xs", "s"]``, ``4`` or None (``[]``)."""
    if values is None:
        return []
    if isinstance(values, (str, int)):
        values = [values]
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in str(v).split(",") if p.strip()]
    return out


def parse_comparisons(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Normalise comparison names (``seed_pairs`` or ``seed_pair``; comma-separated strings allowed)."""
    if values is None:
        return DEFAULT_COMPARISONS
    out = []
    for item in split_list(values):
        kind = _COMPARISON_ALIASES.get(item.strip().lower().replace("-", "_"))
        if kind is None:
            raise ConvdivError(f"unknown comparison {item!r}: expected seed_pairs, consecutive_steps or cross_size")
        if kind not in out:
            out.append(kind)
    return tuple(k for k in COMPARISON_KINDS if k in out)


def _devices(request: IngestRequest) -> tuple[tuple[str, ...], int, str]:
    """``(devices, workers, device)``: ``--devices cuda:0,cuda:1`` (or ``cpu,cpu``) runs one worker process per
    entry (a device may repeat) and computes on the first; without it, ``--workers`` and ``--device`` as given.
    The entries are resolved against the machine later (:func:`convdiv.ingest.devices.resolve_devices`)."""
    if not request.devices:
        return (), int(request.workers or 1), request.device
    items = tuple(split_list(request.devices))
    if not items:
        raise ConvdivError("--devices: give at least one device, e.g. --devices cuda:0,cuda:1")
    if int(request.workers) not in (1, len(items)):
        raise ConvdivError(
            f"--workers {request.workers} and --devices {','.join(items)} disagree: --devices runs "
            "one worker per listed device (repeat a device for more workers on it)"
        )
    return items, len(items), items[0]


def check_numbers(request: IngestRequest) -> None:
    """Refuse impossible numeric knobs in one line.

    None means "the default"; 0, negative and non-finite values are errors, never silently the default.
    """

    def bad(value, minimum, maximum, whole: bool) -> bool:
        if value is None:
            return False
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return True
        return value < minimum or value > maximum or (whole and value != math.trunc(value))

    for value, flag, minimum, maximum in (
        (request.batch_tokens, "--batch-tokens", 1, bounds.MAX_BATCH_TOKENS),
        (request.workers, "--workers", 1, bounds.MAX_WORKERS),
        # a window predicts from at least one token of context: 2 is the least that scores
        (request.context_length, "--context-length", 2, bounds.MAX_CONTEXT_LENGTH),
    ):
        if bad(value, minimum, maximum, whole=True):
            raise ConvdivError(
                f"{flag} {value!r} is invalid: give a whole number from {minimum} to {maximum:,} (or leave it out "
                "for the default)"
            )
    budget = request.memory_budget_gb
    if bad(budget, 0, bounds.MAX_MEMORY_GB, whole=False) or budget == 0:
        raise ConvdivError(
            f"--memory-gb {budget!r} is invalid: give a positive number of GiB up to "
            f"{bounds.MAX_MEMORY_GB:,g} (or leave it out to size groups from free memory)"
        )


def check_suite_name(name: str | None) -> str | None:
    """``--name``: the name the suite is stored under must say something; returns it stripped."""
    if name is None:
        return None
    if not name.strip():
        raise ConvdivError(
            "--name must not be empty: give the name to store the suite under (or leave it out for "
            "the suite's own name)"
        )
    check_name(name, "suite", "--name")
    return name.strip()


def check_follow(request: IngestRequest) -> None:
    """``--follow`` runs one worker that stops claiming when it is told to stop: the knobs it cannot honour are
    refused in one line before anything is done."""
    if request.devices or int(request.workers or 1) != 1:
        raise ConvdivError(
            "--follow runs one worker (a training run writes its checkpoints one after another): leave out --workers "
            "and --devices, or start a second `convdiv ingest --follow` for the same suite (the ledger shares the units)"
        )
    if not request.wait:
        raise ConvdivError("--follow waits for every unit by design: leave out --no-wait")
    if request.force:
        raise ConvdivError(
            "--follow does not recompute done units: run `convdiv ingest ... --force` first, then follow"
        )

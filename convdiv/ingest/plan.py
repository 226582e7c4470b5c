"""The plan of an ingest call: its units of work and how they are computed, before anything is computed.

The planning half of an ingest (the call is ``convdiv.ingest.run``, the worker ``convdiv.ingest.worker``):

- the comparison kinds and their aliases (:func:`parse_comparisons`), the device/dtype resolution;
- :class:`UnitPlan` and :func:`plan_units`: the units of a selection of sizes/seeds/steps (labels only; ids and
  hashes are filled in by ``register.prepare`` when it registers the dimensions);
- :func:`config_hash` and :func:`checkpoint_fingerprint`: what makes a unit ``done`` under the same
  configuration, so a re-run skips it (bump :data:`RESULTS_VERSION` to recompute every unit);
- :func:`memory_budget_bytes` and :func:`group_limits`: how many units of one size a worker claims at once;
- :class:`Plan`: everything a worker needs, picklable, since workers may be separate processes.

Nothing here touches the database; planning needs only the suite spec (and torch for the device checks).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from convdiv import __version__, bounds
from convdiv.errors import ConvdivError
from convdiv.textlimits import check_name
from convdiv.warehouse.models import COMPARISON_KINDS

# Bump when a change to the extract engine changes stored values: every done unit is then recomputed.
# 2: windows feed only input tokens, so each position past the first window gets one more token of context
#    (the study's 2048/1024 windows; see extract/windows.py).
# 3: ce over the model's full output width (entropy and KLs stay over the renormalised |V|); reductions in a
#    fixed order, independent of grouping and chunking (see extract/kernels.py).
RESULTS_VERSION = 3

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
SIZE_UNIT_KINDS = ["seed_pair", "consecutive_step"]
DEFAULT_BATCH_TOKENS = 8192
CACHE_POLICIES = ("keep", "evict")
_DTYPES = ("float32", "bfloat16", "float16")


# --------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class UnitPlan:
    key: str
    size: str | None  # None for cross_size units
    step: int
    writes: tuple[str, ...]  # checkpoint labels whose checkpoint_token rows this unit writes
    comparisons: tuple[tuple[str, str, str], ...]  # (kind, label_a, label_b)
    needs: tuple[str, ...]  # checkpoint labels the extract pass must run
    owned_kinds: tuple[str, ...]
    group: str
    unit_id: int = 0
    config_hash: str = ""
    owned_checkpoint_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class ComputeOptions:
    device: str
    dtype: str
    batch_tokens: int
    context_length: int | None
    threads: int | None = None
    window_stride: int | None = None  # None: context_length // 2 (see extract/windows.py)


@dataclass
class Plan:
    """Everything a worker needs (picklable: workers may be separate processes)."""

    conninfo: str
    suite_name: str
    corpus_name: str
    suite_id: int
    corpus_id: int
    vocab_size: int
    refs: dict  # label -> CheckpointRef
    checkpoint_ids: dict[str, int]
    comparison_ids: dict[tuple[str, str, str], int]
    units: list[UnitPlan]
    group_limit: dict[str, int]
    compute: ComputeOptions
    force_before: datetime | None  # --force: redo units finished before this instant (the call's start)
    started_at: datetime
    arguments: dict
    warnings: list[str] = field(default_factory=list)
    missing_units: dict[str, str] = field(default_factory=dict)  # unit key -> why it is skipped (revision missing)
    cache_policy: str = "keep"  # 'evict': delete a hub checkpoint's files once every unit needing it is done
    devices: tuple[str, ...] = ()  # --devices: one worker process per entry (compute.device is the first)
    waiting_units: dict[str, str] = field(default_factory=dict)  # --follow: unit key -> the incomplete checkpoint


def parse_comparisons(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Normalise comparison names (``seed_pairs`` or ``seed_pair``; comma-separated strings allowed)."""
    if values is None:
        return DEFAULT_COMPARISONS
    items = split_list(values)
    out = []
    for item in items:
        kind = _COMPARISON_ALIASES.get(item.strip().lower().replace("-", "_"))
        if kind is None:
            raise ConvdivError(f"unknown comparison {item!r}: expected seed_pairs, consecutive_steps or cross_size")
        if kind not in out:
            out.append(kind)
    return tuple(k for k in COMPARISON_KINDS if k in out)


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


def resolve_device(device: str) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConvdivError(f"--device {device}: CUDA is not available on this machine")
    if device != "cpu" and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConvdivError(f"unknown device {device!r}: expected auto, cpu, cuda or cuda:N")
    if device.startswith("cuda:") and int(device[5:]) >= torch.cuda.device_count():
        raise ConvdivError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
            f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
        )
    return device


def resolve_devices(devices) -> tuple[str, ...]:
    """``--devices cuda:0,cuda:1`` (or ``cpu,cpu``): one worker process per entry; a device may repeat."""
    items = split_list(devices)
    if not items:
        raise ConvdivError("--devices: give at least one device, e.g. --devices cuda:0,cuda:1")
    return tuple(resolve_device(d) for d in items)


def resolve_dtype(dtype: str, device: str) -> str:
    import torch

    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return "float32"
    if dtype not in _DTYPES:
        raise ConvdivError(f"unknown dtype {dtype!r}: expected auto, float32, bfloat16 or float16")
    return dtype


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def label_of(size: str, seed: int, step: int) -> str:
    return f"{size}/seed{seed}/step{step}"


def parse_label(label: str) -> tuple[str, int, int]:
    """``(size, seed, step)`` of a checkpoint label (the inverse of :func:`label_of`)."""
    size, seed, step = label.rsplit("/", 2)
    return size, int(seed.removeprefix("seed")), int(step.removeprefix("step"))


def plan_units(spec, sizes, seeds, steps, comparisons: Sequence[str]) -> list[UnitPlan]:
    """The units for a selection (labels only; ids and hashes are filled in by ``register.prepare``)."""
    sizes = list(spec._select("size", spec.sizes, sizes, str))
    seeds = list(spec._select("seed", spec.seeds, seeds, int))
    steps = list(spec._select("step", spec.steps, steps, int))
    units: list[UnitPlan] = []
    # `--comparisons cross_size` alone adds the cross-size units and leaves the per-size units as they are
    # (planning them without their pair kinds would change their configuration and redo them without pairs).
    size_units = not comparisons or any(k in comparisons for k in SIZE_UNIT_KINDS)
    # Each size's last selected step first: the surprisal bins of every checkpoint of a size follow its last ingested
    # step (final_surprisal), and a publish that moves that step recomputes them for the whole size.
    size_steps = steps[-1:] + steps[:-1]
    for size in sizes if size_units else ():
        for step in size_steps:
            writes = tuple(label_of(size, s, step) for s in seeds)
            comps: list[tuple[str, str, str]] = []
            needs = list(writes)
            if "seed_pair" in comparisons:
                comps += [
                    ("seed_pair", label_of(size, a, step), label_of(size, b, step))
                    for i, a in enumerate(seeds)
                    for b in seeds[i + 1 :]
                ]
            k = spec.steps.index(step)
            if "consecutive_step" in comparisons and k > 0:
                prev = spec.steps[k - 1]
                comps += [("consecutive_step", label_of(size, s, prev), label_of(size, s, step)) for s in seeds]
                needs += [label_of(size, s, prev) for s in seeds]
            units.append(
                UnitPlan(
                    key=f"size={size}/step={step}",
                    size=size,
                    step=step,
                    writes=writes,
                    comparisons=tuple(comps),
                    needs=tuple(needs),
                    owned_kinds=tuple(SIZE_UNIT_KINDS),
                    group=f"size={size}",
                )
            )
    if "cross_size" in comparisons and len(sizes) > 1:
        for step in steps:
            comps = [
                ("cross_size", label_of(a, s, step), label_of(b, s, step))
                for s in seeds
                for i, a in enumerate(sizes)
                for b in sizes[i + 1 :]
            ]
            needs = [label_of(m, s, step) for m in sizes for s in seeds]
            units.append(
                UnitPlan(
                    key=f"cross_size/step={step}",
                    size=None,
                    step=step,
                    writes=(),
                    comparisons=tuple(comps),
                    needs=tuple(needs),
                    owned_kinds=("cross_size",),
                    group=f"cross_size/step={step}",
                )
            )
    return units


def check_arguments(*, batch_tokens=None, workers=1, context_length=None, memory_budget_gb=None) -> None:
    """Refuse impossible knobs in one line before anything is registered, claimed or loaded.

    None means "the default"; 0, negative and non-finite values are errors, never silently the default.
    """

    def bad(value, minimum, maximum, whole: bool) -> bool:
        if value is None:
            return False
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return True
        return value < minimum or value > maximum or (whole and value != math.trunc(value))

    for value, flag, minimum, maximum in (
        (batch_tokens, "--batch-tokens", 1, bounds.MAX_BATCH_TOKENS),
        (workers, "--workers", 1, bounds.MAX_WORKERS),
        # a window predicts from at least one token of context: 2 is the least that scores
        (context_length, "--context-length", 2, bounds.MAX_CONTEXT_LENGTH),
    ):
        if bad(value, minimum, maximum, whole=True):
            raise ConvdivError(
                f"{flag} {value!r} is invalid: give a whole number from {minimum} to {maximum:,} (or leave it out "
                "for the default)"
            )
    if bad(memory_budget_gb, 0, bounds.MAX_MEMORY_GB, whole=False) or memory_budget_gb == 0:
        raise ConvdivError(
            f"--memory-gb {memory_budget_gb!r} is invalid: give a positive number of GiB up to "
            f"{bounds.MAX_MEMORY_GB:,g} (or leave it out to size groups from free memory)"
        )


def check_context_length(context_length: int | None, refs, what: str = "--context-length") -> None:
    """``context_length`` must fit every local checkpoint's declared max_position_embeddings (read from its
    config.json, so before anything is claimed; hub checkpoints are checked by the engine once loaded)."""
    if context_length is None:
        return
    for ref in refs:
        config = Path(ref.path) / "config.json"
        try:
            longest = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
        except (OSError, ValueError):
            continue
        if isinstance(longest, int) and context_length > longest:
            raise ConvdivError(
                f"{what} {context_length} exceeds checkpoint {ref.path}'s "
                f"max_position_embeddings {longest}: give at most {longest}"
            )


def models_context_length(refs) -> int | None:
    """The context the models take by default: the least max_position_embeddings their config.json files declare
    (None when one of them declares none or cannot be read here, e.g. a hub checkpoint not yet downloaded)."""
    lengths = []
    for ref in refs:
        try:
            longest = json.loads((Path(ref.path) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError):
            return None
        longest = longest.get("max_position_embeddings") if isinstance(longest, dict) else None
        if not isinstance(longest, int):
            return None
        lengths.append(longest)
    return min(lengths) if lengths else None


def same_as_default(context_length: int | None, window: dict, refs) -> tuple[int | None, int | None] | None:
    """``(context_length, window_stride)`` as the default computes them when an explicit ``--context-length``
    changes nothing (it equals the corpus's window, whose stride is half of it, or the models' own length): the
    units' configuration hash then stays that of the default, so done units are not recomputed. None otherwise."""
    if context_length is None:
        return None
    if window.get("context_length") is not None:
        stride = window.get("stride")
        if context_length == window["context_length"] and stride in (None, context_length // 2):
            return window["context_length"], stride
        return None
    return (None, None) if context_length == models_context_length(refs) else None


def suite_origin(spec) -> str:
    """Where a suite comes from, the half of its identity besides its name (``suite.origin``).

    ``local:<folder>`` (resolved, so two spellings of one folder are one origin) or ``hub:<repository pattern>``
    with its per-seed overrides (migration 0006 computes the same string from stored specs). Two local folders
    with the same name are two origins: registering the second under the first's name is refused, never merged.
    """
    if spec.source == "local":
        return f"local:{Path(spec.root).expanduser().resolve()}"
    overrides = "".join(f"; seed {seed}: {template}" for seed, template in sorted(spec.repo_overrides))
    return f"hub:{spec.repo}{overrides}"


def check_suite_name(name: str | None) -> None:
    """``--name``: the name the suite is stored under must say something."""
    if name is not None and not name.strip():
        raise ConvdivError(
            "--name must not be empty: give the name to store the suite under (or leave it out for "
            "the suite's own name)"
        )
    if name is not None:
        check_name(name, "suite", "--name")


def config_hash(
    unit: UnitPlan,
    fingerprints: dict[str, str],
    corpus_sha: str,
    context_length,
    window_stride: int | None = None,
    dtype: str = "float32",
) -> str:
    payload = {
        "unit": unit.key,
        "results_version": RESULTS_VERSION,
        "code_major": __version__.split(".")[0],
        "corpus": corpus_sha,
        "context_length": context_length,
        "window_stride": window_stride,
        "writes": sorted(unit.writes),
        "comparisons": sorted(unit.comparisons),
        "weights": {label: fingerprints[label] for label in sorted(unit.needs)},
    }
    if dtype != "float32":
        # The forward dtype changes the stored values, so a bfloat16 unit is not done for a float32 request. Only
        # non-float32 runs carry it, so float32 units done before the dtype counted keep their hash.
        payload["dtype"] = dtype
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def checkpoint_fingerprint(ref) -> str:
    """sha256 of a local checkpoint's safetensors files; ``repo@revision`` for a hub checkpoint.

    A hub checkpoint is named by its revision even once its files are cached: otherwise its fingerprint (and so
    every unit's config hash) would change after the first download and the next run would recompute it all.
    Its weights sha256 is still recorded in ``checkpoint.weights_sha256`` when the worker loads it.
    """
    from convdiv.suites.loading import checkpoint_weights_sha256

    if ref.revision is not None:
        return f"{ref.path}@{ref.revision}"
    try:
        sha = checkpoint_weights_sha256(ref)
    except OSError:
        sha = None
    return sha or f"{ref.path}@{ref.revision}"


def _param_estimate(ref, spec) -> int:
    """Parameters of a checkpoint without loading it: safetensors headers (local) or the size label (70m)."""
    from convdiv.suites.safetensors import safetensors_param_count
    from convdiv.suites.spec import size_label_params

    if spec.source == "local":
        n = safetensors_param_count(Path(ref.path))
        if n:
            return n
    named = size_label_params(ref.size)
    if named is not None:
        return int(named)
    return 500_000_000  # unknown: assume a mid-size model rather than overcommit memory


def memory_budget_bytes(device: str, budget_gb: float | None) -> int:
    """Memory the models and per-batch log-probs of one work group may use (two groups live at once)."""
    if budget_gb:
        return int(budget_gb * 2**30)
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(device))  # the worker's own GPU (--devices cuda:1)
        return int(free * 0.6)
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return 2 * 2**30
    available = re.search(r"MemAvailable:\s+(\d+)", meminfo)
    if available is None:
        return 2 * 2**30
    available_kb = int(available.group(1))
    # A quarter of what is free: the machine is usually shared (and pair kernels need scratch space).
    return min(int(available_kb * 1024 * 0.25), 8 * 2**30)


def group_limits(units, refs, spec, compute: ComputeOptions, budget_gb) -> dict[str, int]:
    """Units per claim for each group: S seeds x (G + 1) steps of models must fit half the budget.

    The extract engine keeps, per model, its weights and the batch's final hidden states (batch_tokens x hidden,
    counted generously as hidden <= 2048); distributions only ever exist in its fixed chunk buffer (about 1 GiB
    on CPU, ``engine._BUFFER_BYTES``), which is taken off the budget first.
    """
    budget = max(memory_budget_bytes(compute.device, budget_gb) - 2**30, 2**28) // 2  # + the prefetched group
    bytes_per_param = 4 if compute.dtype == "float32" else 2
    limits: dict[str, int] = {}
    for unit in units:
        if unit.group in limits:
            continue
        if unit.size is None:
            limits[unit.group] = 1
            continue
        ref = refs[unit.writes[0]]
        per_model = _param_estimate(ref, spec) * bytes_per_param + compute.batch_tokens * 2048 * 4
        n_seeds = max(1, len(unit.writes))
        models_fit = budget // max(1, per_model)
        limits[unit.group] = max(1, int(models_fit // n_seeds) - 1)
    return limits

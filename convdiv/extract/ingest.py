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

Work groups: a worker claims several consecutive units of one size at once (as many as the memory budget
allows; all steps of a size when models are tiny) and runs ONE extract pass over the models they need: every
seed at each step of the group plus the seeds at the step before the group's first step. So each checkpoint is
forward-passed about once (once per group, plus once more as the "previous step" of the next group).

Overlap: three stages run at once in each worker. While the extract engine computes group k, a prefetch thread
claims group k+1 and loads its checkpoints (models already loaded for group k are reused, not reloaded), and a
publish thread publishes group k-1's units (COPY, validation and INSERT are mostly the database server's work,
about 5x slower per row than a plain COPY because of the facts' foreign-key checks; see bench/ingest.py). At
Pythia scale loading a checkpoint takes about as long as running the corpus through it, so this hides most of
the load time. Memory: two groups' models are alive at once (a group being published has dropped its models);
the group size is chosen for that. Units are still published in order, one transaction each.

Skipping: a unit is skipped when the ledger has it ``done`` under the same ``config_hash``: sha256 over its
checkpoints' weights (sha256 of their safetensors files; ``repo@revision`` for hub checkpoints not yet in the
local cache), its comparisons, the corpus content hash, the context length, :data:`RESULTS_VERSION` and the
convdiv major version. ``force=True`` recomputes every unit finished before the call started.

KL values in (-1e-6, 0) are float32 rounding of a true 0 and are stored as 0; anything more negative fails
the unit (see :func:`unit_rows`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from psycopg.types.json import Jsonb

from convdiv import __version__
from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.warehouse import ledger
from convdiv.warehouse.ledger import q

# Bump when a change to the extract engine changes stored values: every done unit is then recomputed.
RESULTS_VERSION = 1

COMPARISON_KINDS = ("seed_pair", "consecutive_step", "cross_size")
DEFAULT_COMPARISONS = ("seed_pair", "consecutive_step")
_COMPARISON_ALIASES = {
    "seed_pair": "seed_pair", "seed_pairs": "seed_pair", "seeds": "seed_pair",
    "consecutive_step": "consecutive_step", "consecutive_steps": "consecutive_step", "steps": "consecutive_step",
    "cross_size": "cross_size", "cross_sizes": "cross_size",
}
SIZE_UNIT_KINDS = ["seed_pair", "consecutive_step"]

# KL >= -KL_TOLERANCE is rounding; the validation threshold.
KL_TOLERANCE = 1e-6
DEFAULT_BATCH_TOKENS = 8192
_DTYPES = ("float32", "bfloat16", "float16")


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
    error: str | None = None


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
    refreshed: bool
    outcomes: list[UnitOutcome]
    warnings: list[str] = field(default_factory=list)  # e.g. identical weights at two steps of a run


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


def parse_comparisons(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Normalise comparison names (``seed_pairs`` or ``seed_pair``; comma-separated strings allowed)."""
    if values is None:
        return DEFAULT_COMPARISONS
    items = _split_list(values)
    out = []
    for item in items:
        kind = _COMPARISON_ALIASES.get(item.strip().lower().replace("-", "_"))
        if kind is None:
            raise ConvdivError(f"unknown comparison {item!r}: expected seed_pairs, consecutive_steps or cross_size")
        if kind not in out:
            out.append(kind)
    return tuple(k for k in COMPARISON_KINDS if k in out)


def _split_list(values) -> list[str]:
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
    if device != "cpu" and not device.startswith("cuda"):
        raise ConvdivError(f"unknown device {device!r}: expected auto, cpu or cuda")
    return device


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


def plan_units(spec, sizes, seeds, steps, comparisons: Sequence[str]) -> list[UnitPlan]:
    """The units for a selection (labels only; ids and hashes are filled in by :func:`register`)."""
    sizes = list(spec._select("size", spec.sizes, sizes, str))
    seeds = list(spec._select("seed", spec.seeds, seeds, int))
    steps = list(spec._select("step", spec.steps, steps, int))
    units: list[UnitPlan] = []
    # `--comparisons cross_size` alone adds the cross-size units and leaves the per-size units as they are
    # (planning them without their pair kinds would change their configuration and redo them without pairs).
    size_units = not comparisons or any(k in comparisons for k in SIZE_UNIT_KINDS)
    for size in sizes if size_units else ():
        for step in steps:
            writes = tuple(label_of(size, s, step) for s in seeds)
            comps: list[tuple[str, str, str]] = []
            needs = list(writes)
            if "seed_pair" in comparisons:
                comps += [("seed_pair", label_of(size, a, step), label_of(size, b, step))
                          for i, a in enumerate(seeds) for b in seeds[i + 1:]]
            k = spec.steps.index(step)
            if "consecutive_step" in comparisons and k > 0:
                prev = spec.steps[k - 1]
                comps += [("consecutive_step", label_of(size, s, prev), label_of(size, s, step)) for s in seeds]
                needs += [label_of(size, s, prev) for s in seeds]
            units.append(UnitPlan(key=f"size={size}/step={step}", size=size, step=step, writes=writes,
                                  comparisons=tuple(comps), needs=tuple(needs), owned_kinds=tuple(SIZE_UNIT_KINDS),
                                  group=f"size={size}"))
    if "cross_size" in comparisons and len(sizes) > 1:
        for step in steps:
            comps = [("cross_size", label_of(a, s, step), label_of(b, s, step))
                     for s in seeds for i, a in enumerate(sizes) for b in sizes[i + 1:]]
            needs = tuple(label_of(m, s, step) for m in sizes for s in seeds)
            units.append(UnitPlan(key=f"cross_size/step={step}", size=None, step=step, writes=(),
                                  comparisons=tuple(comps), needs=needs, owned_kinds=("cross_size",),
                                  group=f"cross_size/step={step}"))
    return units


def config_hash(unit: UnitPlan, fingerprints: dict[str, str], corpus_sha: str, context_length) -> str:
    payload = {
        "unit": unit.key,
        "results_version": RESULTS_VERSION,
        "code_major": __version__.split(".")[0],
        "corpus": corpus_sha,
        "context_length": context_length,
        "writes": sorted(unit.writes),
        "comparisons": sorted(unit.comparisons),
        "weights": {label: fingerprints[label] for label in sorted(unit.needs)},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def checkpoint_fingerprint(ref) -> str:
    """sha256 of the checkpoint's safetensors files; ``repo@revision`` for a hub checkpoint not cached yet."""
    from convdiv.suites.loading import checkpoint_weights_sha256

    try:
        sha = checkpoint_weights_sha256(ref)
    except OSError:
        sha = None
    return sha or f"{ref.path}@{ref.revision}"


# --------------------------------------------------------------------------------------------- corpus data


@dataclass
class CorpusData:
    position_ids: np.ndarray  # int32 [N], (document, idx) order
    documents: list[np.ndarray]  # int64 full token sequences
    log_unigram: np.ndarray  # float64 [V]


def read_corpus(conn, corpus_id: int, vocab_size: int, corpus_name: str) -> CorpusData:
    """Documents (full token sequences), position ids and log unigram of a corpus, by binary COPY."""
    from convdiv.warehouse.loader import copy_out

    with conn.cursor() as cur:
        pid, doc, idx, ctx, tgt = copy_out(cur, q("corpus_positions"), ["int4"] * 5, {"corpus_id": corpus_id})
        token_ids, log_unigram = copy_out(cur, q("corpus_log_unigram"), ["int4", "float8"], {"corpus_id": corpus_id})
    if len(pid) == 0:
        raise ConvdivError(f"corpus {corpus_name!r} has no positions")
    if len(token_ids) != vocab_size or np.any(token_ids != np.arange(vocab_size)):
        raise ConvdivError(
            f"corpus {corpus_name!r}: vocab_token holds {len(token_ids)} rows, expected token ids 0..{vocab_size - 1}"
        )
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    ends = np.r_[starts[1:], len(doc)]
    documents = []
    for s, e in zip(starts, ends):
        if np.any(idx[s:e] != np.arange(e - s)) or np.any(ctx[s + 1:e] != tgt[s:e - 1]):
            raise ConvdivError(f"corpus {corpus_name!r}: document {int(doc[s])} has gaps or inconsistent positions")
        documents.append(np.concatenate([ctx[s:s + 1], tgt[s:e]]).astype(np.int64))
    return CorpusData(position_ids=pid.astype(np.int32), documents=documents, log_unigram=log_unigram)


# --------------------------------------------------------------------------------------------- registration


def prepare(
    engine,
    settings: Settings,
    suite: str,
    corpus: str,
    *,
    sizes=None,
    seeds=None,
    steps=None,
    comparisons=DEFAULT_COMPARISONS,
    device: str = "auto",
    dtype: str = "auto",
    batch_tokens: int | None = None,
    context_length: int | None = None,
    workers: int = 1,
    force: bool = False,
    memory_budget_gb: float | None = None,
) -> Plan:
    """Resolve suite and corpus, check they match, register dimensions and ledger units; returns the plan."""
    from convdiv.suites.loading import load_tokenizer, safetensors_param_count
    from convdiv.suites.spec import get_suite
    from convdiv.vocab import tokenizer_fingerprint

    comparisons = parse_comparisons(comparisons)
    spec = get_suite(suite, settings)
    info = ledger.conninfo(engine)
    with ledger.connect(info) as conn:
        row = conn.execute(q("corpus_by_name"), {"name": corpus}).fetchone()
        if row is None:
            known = [r[0] for r in conn.execute("SELECT name FROM corpus ORDER BY name")]
            raise ConvdivError(
                f"unknown corpus {corpus!r} (loaded corpora: {', '.join(known) or 'none'}; "
                "add one with `convdiv corpus add`)"
            )
        corpus_id, _, _, corpus_tok_sha, vocab_size, content_sha, _, _ = row
    tokenizer = load_tokenizer(spec)
    suite_tok_sha = tokenizer_fingerprint(tokenizer)
    if suite_tok_sha != corpus_tok_sha:
        raise ConvdivError(
            f"suite {spec.name!r} and corpus {corpus!r} use different tokenizers (sha256 {suite_tok_sha[:12]} vs "
            f"{corpus_tok_sha[:12]}): add the corpus again with the suite's tokenizer {spec.tokenizer}"
        )
    if len(tokenizer) != vocab_size:
        raise ConvdivError(
            f"corpus {corpus!r} has |V| = {vocab_size} but suite {spec.name!r}'s tokenizer has {len(tokenizer)}"
        )

    units = plan_units(spec, _split_list(sizes) or None, _split_list(seeds) or None,
                       _split_list(steps) or None, comparisons)
    labels = sorted({label for u in units for label in u.needs})
    refs = {}
    for label in labels:
        size, seed, step = _parse_label(label)
        refs[label] = spec.ref(size, seed, step)
    fingerprints = {label: checkpoint_fingerprint(ref) for label, ref in refs.items()}
    from convdiv.suites.loading import check_identical_weights

    warnings = check_identical_weights((refs[label], fp) for label, fp in fingerprints.items() if "@" not in fp)

    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    batch_tokens = int(batch_tokens or DEFAULT_BATCH_TOKENS)
    if batch_tokens <= 0:
        raise ConvdivError("--batch-tokens must be positive")
    workers = max(1, int(workers))

    with ledger.connect(info) as conn, conn.transaction():
        suite_id = conn.execute(q("upsert_suite"), {
            "name": spec.name, "source": spec.source, "tokenizer": spec.tokenizer,
            "tokenizer_sha256": suite_tok_sha, "spec": Jsonb(spec.to_dict())}).fetchone()[0]
        model_ids, run_ids, checkpoint_ids = {}, {}, {}
        for label in labels:
            ref = refs[label]
            if ref.size not in model_ids:
                n_params = safetensors_param_count(Path(ref.path)) if spec.source == "local" else None
                model_ids[ref.size] = conn.execute(q("upsert_model"), {
                    "suite_id": suite_id, "size": ref.size, "size_rank": spec.size_rank(ref.size),
                    "n_params": n_params}).fetchone()[0]
            if (ref.size, ref.seed) not in run_ids:
                run_ids[(ref.size, ref.seed)] = conn.execute(q("upsert_run"), {
                    "model_id": model_ids[ref.size], "seed": ref.seed, "source": ref.source}).fetchone()[0]
            fp = fingerprints[label]
            checkpoint_ids[label] = conn.execute(q("upsert_checkpoint"), {
                "run_id": run_ids[(ref.size, ref.seed)], "step": ref.step, "revision": ref.revision,
                "weights_sha256": fp if "@" not in fp else None}).fetchone()[0]
        comparison_ids = {}
        for unit in units:
            for comp in unit.comparisons:
                if comp not in comparison_ids:
                    comparison_ids[comp] = conn.execute(q("upsert_comparison"), {
                        "kind": comp[0], "checkpoint_a": checkpoint_ids[comp[1]],
                        "checkpoint_b": checkpoint_ids[comp[2]]}).fetchone()[0]
        unit_ids = ledger.ensure_units(conn, suite_id, corpus_id, [u.key for u in units])
        planned = []
        for unit in units:
            owned = [r[0] for r in conn.execute(q("owned_checkpoints"),
                                                {"suite_id": suite_id, "step": unit.step, "size": unit.size})]
            planned.append(UnitPlan(**{**unit.__dict__, "unit_id": unit_ids[unit.key],
                                       "config_hash": config_hash(unit, fingerprints, content_sha, context_length),
                                       "owned_checkpoint_ids": tuple(sorted(owned))}))
        started_at = conn.execute("SELECT now()").fetchone()[0]
        force_before = started_at if force else None

    compute = ComputeOptions(device=device, dtype=dtype, batch_tokens=batch_tokens, context_length=context_length,
                             threads=max(1, (os.cpu_count() or 1) // workers) if device == "cpu" else None)
    group_limit = _group_limits(planned, refs, spec, vocab_size, compute, memory_budget_gb)
    arguments = {"suite": spec.name, "corpus": corpus, "sizes": _split_list(sizes), "seeds": _split_list(seeds),
                 "steps": _split_list(steps), "comparisons": list(comparisons), "device": device, "dtype": dtype,
                 "batch_tokens": batch_tokens, "context_length": context_length, "workers": workers, "force": force}
    return Plan(conninfo=info, suite_name=spec.name, corpus_name=corpus, suite_id=suite_id, corpus_id=corpus_id,
                vocab_size=vocab_size, refs=refs, checkpoint_ids=checkpoint_ids, comparison_ids=comparison_ids,
                units=planned, group_limit=group_limit, compute=compute, force_before=force_before,
                started_at=started_at, arguments=arguments, warnings=warnings)


def _parse_label(label: str) -> tuple[str, int, int]:
    size, seed, step = label.rsplit("/", 2)
    return size, int(seed.removeprefix("seed")), int(step.removeprefix("step"))


_SIZE_LABEL = re.compile(r"^(\d+(?:\.\d+)?)([kmb])$", re.I)


def _param_estimate(ref, spec) -> int:
    """Parameters of a checkpoint without loading it: safetensors headers (local) or the size label (70m)."""
    from convdiv.suites.loading import safetensors_param_count

    if spec.source == "local":
        n = safetensors_param_count(Path(ref.path))
        if n:
            return n
    m = _SIZE_LABEL.match(ref.size)
    if m:
        return int(float(m.group(1)) * {"k": 1e3, "m": 1e6, "b": 1e9}[m.group(2).lower()])
    return 500_000_000  # unknown: assume a mid-size model rather than overcommit memory


def memory_budget_bytes(device: str, budget_gb: float | None) -> int:
    """Memory the models and per-batch log-probs of one work group may use (two groups live at once)."""
    if budget_gb:
        return int(budget_gb * 2**30)
    if device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return int(free * 0.6)
    try:
        meminfo = Path("/proc/meminfo").read_text()
        available_kb = int(re.search(r"MemAvailable:\s+(\d+)", meminfo).group(1))
        # A quarter of what is free: the machine is usually shared (and pair kernels need scratch space).
        return min(int(available_kb * 1024 * 0.25), 8 * 2**30)
    except (OSError, AttributeError):
        return 2 * 2**30


def _group_limits(units, refs, spec, vocab_size, compute: ComputeOptions, budget_gb) -> dict[str, int]:
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


# --------------------------------------------------------------------------------------------- the worker


def unit_rows(plan: Plan, unit: UnitPlan, result, position_ids: np.ndarray,
              loaded: dict) -> ledger.UnitRows:
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
        return {k: (np.concatenate(v) if v else np.zeros(0, dtype if k.endswith("_id") else np.float32))
                for k, v in cols.items()}

    weights = {}
    for label in unit.writes:
        lc = loaded.get(label)
        if lc is not None:
            weights[plan.checkpoint_ids[label]] = (lc.weights_sha256, lc.n_params)
    return ledger.UnitRows(
        unit_id=unit.unit_id, unit_key=unit.key, corpus_id=plan.corpus_id, config_hash=unit.config_hash,
        owned_checkpoint_ids=list(unit.owned_checkpoint_ids), owned_kinds=list(unit.owned_kinds),
        checkpoint_token=cat(ckpt_cols, np.int32), pair_token=cat(pair_cols, np.int32),
        expected_checkpoint_rows=n * len(unit.writes), expected_pair_rows=n * len(unit.comparisons),
        owns_checkpoint_rows=unit.size is not None, weights=weights,
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
class _Group:
    claim: ledger.Claim
    units: list[UnitPlan]
    loaded: dict  # label -> LoadedCheckpoint


class Worker:
    """Claims work groups from the ledger, computes them with the extract engine and publishes each unit."""

    def __init__(self, plan: Plan, index: int = 0, on_unit: Callable[[UnitOutcome, int], None] | None = None,
                 progress=None):
        self.plan = plan
        self.index = index
        self.on_unit = on_unit
        self.progress = progress  # a _Progress: fine-grained progress while a group computes
        self.units = {u.unit_id: u for u in plan.units}
        self._lock = threading.Lock()
        self._current: dict = {}  # models of the group being computed (reused by the prefetch)

    def run(self) -> WorkerReport:
        import torch

        plan = self.plan
        if plan.compute.threads:
            torch.set_num_threads(plan.compute.threads)
        run_id = ledger.start_run(plan.conninfo, {**plan.arguments, "worker": self.index}, __version__)
        report = WorkerReport(worker=self.index, ingest_run_id=run_id)
        with ledger.connect(plan.conninfo) as conn:
            data = read_corpus(conn, plan.corpus_id, plan.vocab_size, plan.corpus_name)
        candidates = [ledger.Candidate(u.unit_id, u.config_hash, u.group) for u in plan.units]
        # Three stages in flight (see the module docstring): the prefetch thread claims and loads group k+1,
        # this thread computes group k, the publish thread publishes group k-1 (its work is mostly the database
        # server's, so it runs alongside the forward passes).
        prefetch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convdiv-prefetch")
        publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="convdiv-publish")
        pending: Future | None = prefetch.submit(self._claim_and_load, candidates, run_id)
        publishing: tuple[Future, _Group] | None = None
        group: _Group | None = None
        failed_publish: _Group | None = None

        def wait_for_publish() -> None:
            nonlocal publishing, failed_publish
            if publishing is not None:
                future, published = publishing
                publishing = None
                try:
                    future.result()
                except BaseException:
                    failed_publish = published
                    raise

        try:
            while True:
                try:
                    group = pending.result()
                except BaseException as exc:
                    group = getattr(exc, "group", None)  # claimed, but a checkpoint failed to load
                    raise
                finally:
                    pending = None
                if group is None:
                    break
                with self._lock:
                    self._current = dict(group.loaded)
                pending = prefetch.submit(self._claim_and_load, candidates, run_id)
                result, compute_s = self._compute(group, data, report)
                # Publishing needs only the weights' identity: let the models go (the next group may still hold
                # the ones it shares through self._current).
                group.loaded = {k: _Identity(v.weights_sha256, v.n_params) for k, v in group.loaded.items()}
                wait_for_publish()  # the previous group's (raises its error)
                publishing = (publisher.submit(self._publish, group, result, compute_s, data, report), group)
                group = None
            wait_for_publish()
            ledger.finish_run(plan.conninfo, run_id, "done")
        except BaseException as exc:
            report.error = _message(exc)
            if failed_publish is None:
                try:
                    wait_for_publish()  # a publish in flight finishes: its rows are good
                except BaseException as publish_exc:  # noqa: BLE001 - the first error is the one reported
                    self._fail(failed_publish, _message(publish_exc), report)
                    failed_publish = None
            if failed_publish is not None:
                self._fail(failed_publish, report.error, report)
                if group is not None:  # computed fine; stopped only because the publish before it failed
                    group.claim.abandon()
                    group.claim.release()
            elif group is not None:
                self._fail(group, report.error, report)
            if pending is not None:
                try:
                    nxt = pending.result()
                except BaseException as load_exc:  # noqa: BLE001 - the first error is the one reported
                    nxt = getattr(load_exc, "group", None)
                if nxt is not None:
                    nxt.claim.abandon()
                    nxt.claim.release()
            try:
                ledger.finish_run(plan.conninfo, run_id, "failed")
            except Exception:  # noqa: BLE001 - the database may be what failed
                pass
            raise
        finally:
            prefetch.shutdown(wait=True)
            publisher.shutdown(wait=True)
        return report

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

    def _claim_and_load(self, candidates, run_id) -> _Group | None:
        from convdiv.suites.loading import load_checkpoint

        plan = self.plan
        claim = ledger.claim(plan.conninfo, candidates, run_id, limit=plan.group_limit, force_before=plan.force_before)
        if claim is None:
            return None
        units = sorted((self.units[u] for u in claim.unit_ids), key=lambda u: u.step)
        group = _Group(claim=claim, units=units, loaded={})
        needs = list(dict.fromkeys(label for u in units for label in u.needs))
        try:
            for label in needs:
                with self._lock:
                    reuse = self._current.get(label)
                group.loaded[label] = reuse if reuse is not None else load_checkpoint(
                    plan.refs[label], device=plan.compute.device, dtype=torch_dtype(plan.compute.dtype))
        except BaseException as exc:
            exc.group = group  # so the caller can mark this group failed
            raise
        return group

    def _compute(self, group: _Group, data: CorpusData, report: WorkerReport):
        """One extract pass over every model the group needs; returns the result and its seconds."""
        from convdiv.extract.engine import extract_group

        plan = self.plan
        started = time.perf_counter()
        models = {label: lc.model for label, lc in group.loaded.items()}
        pairs = list(dict.fromkeys((a, b) for u in group.units for (_, a, b) in u.comparisons))
        on_positions = None
        if self.progress is not None:
            self.progress.group_started(sum(max(1, len(u.writes)) for u in group.units))
            on_positions = self.progress.computing
        result = extract_group(models, data.documents, data.log_unigram, plan.vocab_size, pairs,
                               device=plan.compute.device, dtype=torch_dtype(plan.compute.dtype),
                               batch_tokens=plan.compute.batch_tokens, context_length=plan.compute.context_length,
                               progress=on_positions)
        report.forward_passes += int(getattr(result, "forward_passes", 0) or 0)
        return result, time.perf_counter() - started

    def _publish(self, group: _Group, result, compute_s: float, data: CorpusData, report: WorkerReport) -> None:
        """Publish the group's units one transaction each (in the publish thread), then drop its claim."""
        plan = self.plan
        provenance = ledger.Provenance(code_version=__version__, device=plan.compute.device,
                                       dtype=plan.compute.dtype, batch_tokens=plan.compute.batch_tokens)
        for unit in group.units:
            t0 = time.perf_counter()
            rows = unit_rows(plan, unit, result, data.position_ids, group.loaded)
            # elapsed_s: the unit's share of the group's compute time plus its own publish time.
            share = compute_s * max(1, len(unit.needs)) / max(1, sum(len(u.needs) for u in group.units))
            n_ckpt, n_pair = ledger.publish_unit(group.claim, rows, provenance,
                                                 lambda share=share, t0=t0: share + time.perf_counter() - t0)
            outcome = UnitOutcome(unit.key, "done", n_ckpt, n_pair, share + time.perf_counter() - t0, self.index)
            report.outcomes.append(outcome)
            if self.on_unit:
                self.on_unit(outcome, max(1, len(unit.writes)))
        group.claim.release()


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ConvdivError) else f"{type(exc).__name__}: {exc}"


def _worker_process(plan: Plan, index: int) -> WorkerReport:
    """Entry point of a worker process (``--workers N``)."""
    return Worker(plan, index).run()


# --------------------------------------------------------------------------------------------- the call


def ingest(
    engine,
    settings: Settings,
    suite: str,
    corpus: str,
    *,
    sizes=None,
    seeds=None,
    steps=None,
    comparisons=DEFAULT_COMPARISONS,
    device: str = "auto",
    dtype: str = "auto",
    batch_tokens: int | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
    context_length: int | None = None,
    memory_budget_gb: float | None = None,
) -> IngestSummary:
    """Compute and publish every unit of ``suite`` x ``corpus`` that is not already done; see the module doc.

    Returns a summary; raises ConvdivError (one line, naming the checkpoint or unit) on the first failure, after
    the other workers finished their current units. Units published before a failure stay published.
    """
    started = time.perf_counter()
    plan = prepare(engine, settings, suite, corpus, sizes=sizes, seeds=seeds, steps=steps, comparisons=comparisons,
                   device=device, dtype=dtype, batch_tokens=batch_tokens, context_length=context_length,
                   workers=workers, force=force, memory_budget_gb=memory_budget_gb)
    todo, skipped = _split_todo(plan)
    outcomes = [UnitOutcome(u.key, "skipped") for u in skipped]
    reports: list[WorkerReport] = []
    errors: list[str] = []
    total = sum(max(1, len(u.writes)) for u in todo)
    n_workers = max(1, int(workers))
    with _Progress(progress, total, len(todo)) as bar:
        bar.todo_ids = {u.unit_id for u in todo}
        if todo:
            if n_workers == 1:
                try:
                    reports.append(Worker(plan, 0, on_unit=bar.advance, progress=bar).run())
                except ConvdivError as exc:
                    errors.append(str(exc))
            else:
                reports, errors = _run_processes(plan, n_workers, bar)
    for r in reports:
        outcomes += r.outcomes
    refreshed = _refresh(engine, plan.conninfo)
    done = [o for o in outcomes if o.status == "done"]
    failed = [o for o in outcomes if o.status == "failed"]
    summary = IngestSummary(
        suite=plan.suite_name, corpus=plan.corpus_name, units_total=len(plan.units), units_done=len(done),
        units_skipped=len(skipped), units_failed=len(failed),
        rows_checkpoint_token=sum(o.rows_checkpoint_token for o in done),
        rows_pair_token=sum(o.rows_pair_token for o in done), elapsed_s=time.perf_counter() - started,
        device=plan.compute.device, dtype=plan.compute.dtype, workers=reports, refreshed=refreshed,
        outcomes=outcomes, warnings=plan.warnings,
    )
    if errors:
        raise IngestError(errors[0], summary)
    return summary


class IngestError(ConvdivError):
    """A failed ingest; ``summary`` says what was published before the failure."""

    def __init__(self, message: str, summary: IngestSummary):
        super().__init__(message)
        self.summary = summary


def _split_todo(plan: Plan) -> tuple[list[UnitPlan], list[UnitPlan]]:
    with ledger.connect(plan.conninfo) as conn:
        rows = conn.execute(
            "SELECT unit_id, status, config_hash, finished_at FROM ingest_unit WHERE unit_id = ANY(%s)",
            ([u.unit_id for u in plan.units],),
        ).fetchall()
    state = {r[0]: r[1:] for r in rows}
    todo, skipped = [], []
    for u in plan.units:
        status, chash, finished = state[u.unit_id]
        fresh = plan.force_before is None or (finished is not None and finished >= plan.force_before)
        (skipped if status == "done" and chash == u.config_hash and fresh else todo).append(u)
    return todo, skipped


def _run_processes(plan: Plan, n: int, bar) -> tuple[list[WorkerReport], list[str]]:
    """N worker processes (spawned, so each has its own torch and connections); progress from the ledger."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    weights = {u.unit_id: max(1, len(u.writes)) for u in plan.units}
    seen: set[int] = set()
    reports, errors = [], []
    with ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_process, plan, i) for i in range(n)]
        with ledger.connect(plan.conninfo, autocommit=True) as conn:
            while not all(f.done() for f in futures):
                time.sleep(0.5)
                _poll_progress(conn, plan, weights, seen, bar)
            _poll_progress(conn, plan, weights, seen, bar)
        for i, f in enumerate(futures):
            try:
                reports.append(f.result())
            except ConvdivError as exc:
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a crashed worker process: report it in one line
                errors.append(f"ingest worker {i} failed: {type(exc).__name__}: {exc}")
    return reports, errors


def _poll_progress(conn, plan, weights, seen, bar) -> None:
    rows = conn.execute(
        "SELECT unit_id, status FROM ingest_unit WHERE unit_id = ANY(%s) AND status IN ('done', 'failed') "
        "AND finished_at >= %s",
        (list(weights), plan.started_at),
    ).fetchall()
    for unit_id, status in rows:
        if unit_id not in seen and unit_id in bar.todo_ids:
            seen.add(unit_id)
            bar.advance(UnitOutcome("", status), weights[unit_id] if status == "done" else 0)


REFRESH_MARK = "refresh_aggregates"


def _refresh(engine, info: str) -> bool:
    """Bring the materialised aggregates (``convdiv.analysis.refresh``) up to date; True when they are current.

    Refreshing costs about a minute on the demo, so it is skipped when no unit finished since the start of the
    last successful refresh. Refreshes are recorded as ``ingest_run`` rows with ``arguments ? 'refresh_aggregates'``;
    a run killed after publishing units but before refreshing therefore gets its refresh from the next call.
    False when the analysis module does not exist.
    """
    try:
        from convdiv.analysis.refresh import refresh_aggregates
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("convdiv.analysis"):
            return False
        raise
    with ledger.connect(info) as conn:
        last = conn.execute("SELECT max(started_at) FROM ingest_run WHERE status = 'done' AND arguments ? %s",
                            (REFRESH_MARK,)).fetchone()[0]
        newest = conn.execute("SELECT max(finished_at) FROM ingest_unit WHERE status = 'done'").fetchone()[0]
    if last is not None and (newest is None or newest < last):
        return True
    run_id = ledger.start_run(info, {REFRESH_MARK: True}, __version__)
    try:
        with engine.begin() as connection:
            refresh_aggregates(connection)
    except BaseException:
        ledger.finish_run(info, run_id, "failed")
        raise
    ledger.finish_run(info, run_id, "done")
    return True


class _Progress:
    """rich progress bar: checkpoints done / total with ETA (silent when disabled).

    A checkpoint counts as done when its unit is published; while a group computes, the bar moves with the
    engine's positions (up to 95% of the group, the rest when its units are published).
    """

    def __init__(self, enabled: bool, total: int, n_units: int):
        self.enabled = enabled
        self.total = total
        self.n_units = n_units
        self.todo_ids: set[int] = set()
        self._progress = None
        self._task = None
        self._published = 0.0
        self._group_weight = 0.0
        self._group_published = 0.0
        self._computed = 0.0

    def __enter__(self):
        if self.enabled and self.total:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("[bold]ingest[/bold] checkpoints"), BarColumn(),
                                      MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TimeElapsedColumn(),
                                      TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True),
                                      transient=False)
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
        if self._progress is not None:
            pending = max(0.0, self._computed - self._group_published)
            fields = {"unit": unit} if unit else {}
            self._progress.update(self._task, completed=int(self._published + pending), **fields)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False

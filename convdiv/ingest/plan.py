"""The plan of an ingest call: everything a worker needs, before anything is computed.

:class:`Plan` is what ``register.prepare`` returns and every worker reads (picklable: workers may be separate
processes); :class:`ComputeOptions`, how its units are computed. Its parts come from the modules named for them:
the request (:mod:`convdiv.ingest.request`), devices and dtypes (:mod:`convdiv.ingest.devices`), the units
(:mod:`convdiv.ingest.units`), their identity (:mod:`convdiv.ingest.identity`), the context length
(:mod:`convdiv.ingest.context_length`) and the group sizes (:mod:`convdiv.ingest.memory`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from convdiv.ingest.units import UnitPlan

DEFAULT_BATCH_TOKENS = 8192


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

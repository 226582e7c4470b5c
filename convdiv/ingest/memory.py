"""How many units of one size a worker claims at once: the work group's models and per-batch tensors must fit the
memory budget (``--memory-gb``, or a share of free RAM / GPU memory)."""

from __future__ import annotations

import re
from pathlib import Path

from convdiv.ingest.plan import ComputeOptions


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

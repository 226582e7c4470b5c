"""The units of an ingest: what a selection of sizes/seeds/steps asks for, before anything is registered.

:class:`UnitPlan` and :func:`plan_units` (labels only; ids and hashes are filled in by ``register.prepare`` when it
registers the dimensions), and the checkpoint labels they are named by (:func:`label_of`, :func:`parse_label`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

SIZE_UNIT_KINDS = ["seed_pair", "consecutive_step"]


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


def label_of(size: str, seed: int, step: int) -> str:
    return f"{size}/seed{seed}/step{step}"


def parse_label(label: str) -> tuple[str, int, int]:
    """``(size, seed, step)`` of a checkpoint label (the inverse of :func:`label_of`)."""
    size, seed, step = label.rsplit("/", 2)
    return size, int(seed.removeprefix("seed")), int(step.removeprefix("step"))


def plan_units(spec, sizes, seeds, steps, comparisons: Sequence[str]) -> list[UnitPlan]:
    """The units for a selection (None: all of the suite's; labels only, ids and hashes come with registration)."""
    sizes = list(spec._select("size", spec.sizes, sizes, str))
    seeds = list(spec._select("seed", spec.seeds, seeds, int))
    steps = list(spec._select("step", spec.steps, steps, int))
    # `--comparisons cross_size` alone adds the cross-size units and leaves the per-size units as they are
    # (planning them without their pair kinds would change their configuration and redo them without pairs).
    size_units = not comparisons or any(k in comparisons for k in SIZE_UNIT_KINDS)
    units = _size_units(spec, sizes, seeds, steps, comparisons) if size_units else []
    if "cross_size" in comparisons and len(sizes) > 1:
        units += _cross_size_units(sizes, seeds, steps)
    return units


def _size_units(spec, sizes: list, seeds: list, steps: list, comparisons: Sequence[str]) -> list[UnitPlan]:
    units = []
    # Each size's last selected step first: the surprisal bins of every checkpoint of a size follow its last ingested
    # step (final_surprisal), and a publish that moves that step recomputes them for the whole size.
    size_steps = steps[-1:] + steps[:-1]
    for size in sizes:
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
    return units


def _cross_size_units(sizes: list, seeds: list, steps: list) -> list[UnitPlan]:
    units = []
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

"""Training phases as spans of steps, from the boundaries that the ``phase_boundaries`` view computes.

The rule that places the boundaries lives in one place, ``sql/045_phase_boundaries.sql`` (documented in docs/sql.md);
this module only turns one row of that view into the spans a plot shades, in the two vocabularies of the study:

- the paper (Fehlauer et al. 2025, sec. 4; lines near steps 16, 256, 2000): *uniform*, *sharp convergence*,
  *sharp divergence*, *slow reconvergence*;
- the presentation (lines near 8, 64, 1000): *uniform*, *functional universality*, *unigram transition*,
  *contextual learning*.

A boundary the view leaves NULL (the curve does not show it) drops the spans it would close; :func:`missing_reasons`
says why in words for the report.
"""

from __future__ import annotations

from collections.abc import Mapping

PHASE_NAMES = ("uniform", "sharp convergence", "sharp divergence", "slow reconvergence")
PRESENTATION_PHASE_NAMES = ("uniform", "functional universality", "unigram transition", "contextual learning")
# The study's published phase boundaries and the presentation's, for reference lines in plots.
PAPER_LINES = (16, 256, 2000)
PRESENTATION_LINES = (8, 64, 1000)


def _step(row: Mapping, name: str) -> int | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        if value != value:  # NaN from a pandas row
            return None
    except TypeError:
        return None
    return int(value)


def _keep(phases: list[tuple[str, int | None, int | None]]) -> list[tuple[str, int, int]]:
    return [(name, a, b) for name, a, b in phases if a is not None and b is not None and b > a]


def paper_spans(row: Mapping) -> list[tuple[str, int, int]]:
    """(phase, start step, end step) of the paper's four phases that both ends of are known, in order.

    Without a convergence minimum (a curve that never dips below its value at the end of the uniform phase) there
    is no sharp convergence, and the sharp divergence starts where the uniform phase ends.
    """
    uniform_end = _step(row, "uniform_end_step")
    conv_min = _step(row, "convergence_min_step")
    peak = _step(row, "divergence_peak_step")
    return _keep(
        [
            ("uniform", _step(row, "first_step"), uniform_end),
            ("sharp convergence", uniform_end, conv_min),
            ("sharp divergence", conv_min if conv_min is not None else uniform_end, peak),
            ("slow reconvergence", _step(row, "reconvergence_start_step"), _step(row, "last_step")),
        ]
    )


def presentation_spans(row: Mapping) -> list[tuple[str, int, int]]:
    """(phase, start, end) of the presentation's four phases: uniform until the uniform phase ends, functional
    universality until the sharp rise of seed-pair E[KL] starts, unigram transition during that rise, contextual
    learning after it."""
    uniform_end = _step(row, "uniform_end_step")
    rise_start = _step(row, "sharp_rise_start_step")
    rise_end = _step(row, "sharp_rise_end_step")
    return _keep(
        [
            ("uniform", _step(row, "first_step"), uniform_end),
            ("functional universality", uniform_end, rise_start),
            ("unigram transition", rise_start, rise_end),
            ("contextual learning", rise_end, _step(row, "last_step")),
        ]
    )


def missing_reasons(row: Mapping) -> list[str]:
    """Why the data cannot place a boundary, one sentence per NULL boundary of the row."""
    reasons = []
    if "uniform_end_step" in row and _step(row, "uniform_end_step") is None:
        reasons.append("no uniform end: KL to uniform is flat or missing, so the uniform phase cannot be bounded")
    if "convergence_min_step" in row and _step(row, "convergence_min_step") is None:
        reasons.append(
            "no convergence minimum: E[KL] never dips below its value at the end of the uniform phase "
            "before its peak (no sharp convergence)"
        )
    if "divergence_peak_step" in row and _step(row, "divergence_peak_step") is None:
        reasons.append("no divergence peak: E[KL] does not rise after the uniform phase")
    if (
        "reconvergence_start_step" in row
        and _step(row, "reconvergence_start_step") is None
        and _step(row, "divergence_peak_step") is not None
    ):
        reasons.append("no slow reconvergence: E[KL] is still at its highest at the last ingested step")
    if "sharp_rise_start_step" in row and _step(row, "sharp_rise_start_step") is None:
        reasons.append(
            "no sharp rise of E[KL] after the uniform phase: the presentation's unigram transition "
            "and contextual learning cannot be placed"
        )
    return reasons

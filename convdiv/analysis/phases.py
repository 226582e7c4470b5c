"""Training phases as spans of steps, from the boundaries that the ``phase_boundaries`` view computes.

The rule that places the boundaries lives in one place, ``sql/views/phase_boundaries.sql`` (documented in docs/sql.md);
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


def _spans_with_ends(row: Mapping, presentation: bool) -> list[tuple[str, int | None, int | None]]:
    uniform_end = _step(row, "uniform_end_step")
    if presentation:
        rise_start, rise_end = _step(row, "sharp_rise_start_step"), _step(row, "sharp_rise_end_step")
        return [
            ("uniform", _step(row, "first_step"), uniform_end),
            ("functional universality", uniform_end, rise_start),
            ("unigram transition", rise_start, rise_end),
            ("contextual learning", rise_end, _step(row, "last_step")),
        ]
    conv_min, peak = _step(row, "convergence_min_step"), _step(row, "divergence_peak_step")
    return [
        ("uniform", _step(row, "first_step"), uniform_end),
        ("sharp convergence", uniform_end, conv_min),
        ("sharp divergence", conv_min if conv_min is not None else uniform_end, peak),
        ("slow reconvergence", _step(row, "reconvergence_start_step"), _step(row, "last_step")),
    ]


def paper_spans(row: Mapping) -> list[tuple[str, int, int]]:
    """(phase, start step, end step) of the paper's four phases that both ends of are known, in order.

    Without a convergence minimum (a curve that never dips below its value at the end of the uniform phase) there
    is no sharp convergence, and the sharp divergence starts where the uniform phase ends.
    """
    return _keep(_spans_with_ends(row, presentation=False))


def presentation_spans(row: Mapping) -> list[tuple[str, int, int]]:
    """(phase, start, end) of the presentation's four phases: uniform until the uniform phase ends, functional
    universality until the sharp rise of seed-pair E[KL] starts, unigram transition during that rise, contextual
    learning after it."""
    return _keep(_spans_with_ends(row, presentation=True))


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


# Where each phase starts and ends, in words, for the sentence about an empty span.
SPAN_ENDS = {
    "uniform": ("the first step", "the end of the uniform phase"),
    "sharp convergence": ("the end of the uniform phase", "the convergence minimum"),
    "sharp divergence": ("the convergence minimum (or the end of the uniform phase)", "the divergence peak"),
    "slow reconvergence": ("the divergence peak", "the last step"),
    "functional universality": ("the end of the uniform phase", "the start of the sharp rise of E[KL]"),
    "unigram transition": ("the start of the sharp rise", "its end"),
    "contextual learning": ("the end of the sharp rise", "the last step"),
}


def empty_spans(row: Mapping) -> list[str]:
    """A sentence for every phase whose both ends are placed but whose span has zero length (or runs backwards),
    with the steps: such a phase is not shaded, and the report says so instead of dropping it silently."""
    out, seen = [], set()
    for presentation in (False, True):
        for name, start, end in _spans_with_ends(row, presentation):
            if name in seen or start is None or end is None or end > start:
                continue
            seen.add(name)
            begins, ends = SPAN_ENDS[name]
            out.append(
                f"the {name} phase has zero length: it would run from {begins} (step {start}) to {ends} (step {end})"
            )
    return out


def _at(curve: Mapping[int, float], step: int | None) -> float:
    """E[KL] of ``curve`` (a mapping step -> mean_kl) at ``step``, NaN if absent."""
    if step is None or step not in curve:
        return float("nan")
    return float(curve[step])


def phase_account(row: Mapping, curve: Mapping[int, float]) -> str:
    """One sentence narrating a size's seed-pair E[KL] curve through the boundaries the view placed, every value
    measured: E[KL] at the first step, at the end of the uniform phase, at the convergence minimum, the peak and the
    last step. A boundary the view left empty is said to be absent, with the values that show it. Only the view's
    rule (sql/views/phase_boundaries.sql) decides a boundary; this function adds no threshold."""
    first, last = _step(row, "first_step"), _step(row, "last_step")
    u_end, c_min = _step(row, "uniform_end_step"), _step(row, "convergence_min_step")
    peak, recon = _step(row, "divergence_peak_step"), _step(row, "reconvergence_start_step")
    parts = [f"E[KL] across seeds is {_at(curve, first):.3g} nats at step {first}"]
    if u_end is None:
        parts.append("the uniform phase has no end in the ingested steps (KL to uniform is flat)")
        return "; ".join(parts) + "."
    uniform = [v for s, v in curve.items() if s <= u_end]
    if uniform:
        u_level = _at(curve, max(s for s in curve if s <= u_end))
        parts.append(
            f"at most {max(uniform):.3g} nats up to step {u_end}, where the uniform phase ends ({u_level:.3g} there)"
        )
    after = {s: v for s, v in curve.items() if s >= u_end and (peak is None or s <= peak)}
    if c_min is not None:
        parts.append(f"it falls to {_at(curve, c_min):.3g} at step {c_min} (sharp convergence)")
    elif after and uniform:
        low = min(after, key=lambda s: after[s])
        parts.append(
            f"it never dips below its value at the end of the uniform phase before its peak (lowest {after[low]:.3g}"
            f" at step {low}): no sharp convergence"
        )
    if peak is not None:
        parts.append(f"rises to its peak, {_at(curve, peak):.3g} at step {peak} (sharp divergence)")
    else:
        parts.append("does not rise after the uniform phase: no divergence peak")
    if recon is not None and last is not None:
        drop = 1 - _at(curve, last) / _at(curve, peak)
        parts.append(f"and falls to {_at(curve, last):.3g} by step {last}, {drop:.0%} below the peak (reconvergence)")
    elif peak is not None:
        parts.append(f"and is still at its highest at the last step, {last}: no reconvergence in the ingested steps")
    return "; ".join(parts) + "."

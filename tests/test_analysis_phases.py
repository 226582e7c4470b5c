"""Phase spans from phase_boundaries rows (the rule itself is the view's: tests/test_views_rules.py)."""

from __future__ import annotations

import math

from convdiv.analysis.phases import (
    PHASE_NAMES,
    PRESENTATION_PHASE_NAMES,
    missing_reasons,
    paper_spans,
    presentation_spans,
)

FULL = dict(
    first_step=0,
    last_step=143000,
    uniform_end_step=16,
    unigram_closest_step=256,
    convergence_min_step=256,
    divergence_peak_step=2000,
    reconvergence_start_step=2000,
    sharp_rise_start_step=64,
    sharp_rise_end_step=1000,
)


def test_all_boundaries_give_four_spans_each():
    assert paper_spans(FULL) == [
        ("uniform", 0, 16),
        ("sharp convergence", 16, 256),
        ("sharp divergence", 256, 2000),
        ("slow reconvergence", 2000, 143000),
    ]
    assert [n for n, *_ in paper_spans(FULL)] == list(PHASE_NAMES)
    assert presentation_spans(FULL) == [
        ("uniform", 0, 16),
        ("functional universality", 16, 64),
        ("unigram transition", 64, 1000),
        ("contextual learning", 1000, 143000),
    ]
    assert [n for n, *_ in presentation_spans(FULL)] == list(PRESENTATION_PHASE_NAMES)
    assert missing_reasons(FULL) == []


def test_a_curve_without_a_dip_has_no_sharp_convergence():
    row = {**FULL, "convergence_min_step": math.nan, "reconvergence_start_step": None}
    assert paper_spans(row) == [("uniform", 0, 16), ("sharp divergence", 16, 2000)]
    reasons = missing_reasons(row)
    assert any("never dips" in r for r in reasons) and any("still at its highest" in r for r in reasons)


def test_no_rise_leaves_the_presentation_phases_after_uniform_out():
    row = {**FULL, "sharp_rise_start_step": None, "sharp_rise_end_step": None}
    assert presentation_spans(row) == [("uniform", 0, 16)]
    assert any("no sharp rise" in r for r in missing_reasons(row))


def test_rows_without_the_newer_columns_give_what_they_can():
    old = {k: v for k, v in FULL.items() if not k.startswith("sharp_rise")}
    assert len(paper_spans(old)) == 4 and presentation_spans(old) == [("uniform", 0, 16)]
    assert missing_reasons(old) == []

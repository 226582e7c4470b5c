"""Documents -> context windows -> padded batches, so that no context ever crosses a document boundary.

A document of L tokens w(0..L-1) has L-1 *positions*: position x predicts w(x+1) from w(0..x). A window feeds
the model *input* tokens only; the token a position predicts is a label, so it may lie just past the window.

Windowing rule (documents with more than C positions, C = the context length):
    stride S = C // 2 (``window_stride``); window k feeds tokens [k*S, min(k*S + C, L - 1)) and scores the
    positions it adds: [prev_stop, stop), with prev_stop the previous window's stop (0 for window 0).
    So each position is scored exactly once, window 0 scores positions 0..C-1 with their full context, and
    every later position x sees x - k*S + 1 tokens, between C - S + 1 and C.
This is the study's evaluation (Fehlauer et al., 2025: Pythia, C = 2048, S = 1024): on its 4,663-token sample the
windows start at 0, 1024, 2048 and 3072, and positions 2047, 3071 and 4095 get a full 2,048-token context.
A document with L - 1 <= C positions is one window scoring all of them. The cost for long documents is about
C / S = 2 forward tokens per scored position beyond the first window.

Batching: windows are sorted longest first and packed greedily, one window per row, right-padded, while
rows * longest <= batch_tokens (always at least one row). With right padding and causal attention a real token
only ever attends to earlier tokens of its own window, so padding cannot leak into any scored position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    """Input tokens [start, stop) of document `doc`; scores positions x in [score_from, stop) (targets x + 1)."""

    doc: int
    start: int
    stop: int
    score_from: int

    @property
    def n_tokens(self) -> int:
        return self.stop - self.start

    @property
    def n_scored(self) -> int:
        return self.stop - self.score_from


def plan_windows(lengths: Sequence[int], context_length: int, stride: int | None = None) -> list[Window]:
    """Cover every position of every document exactly once (see the module docstring for the rule)."""
    if context_length < 2:
        raise ValueError(f"context_length must be >= 2, got {context_length}")
    stride = context_length // 2 if stride is None else stride
    if not 1 <= stride <= context_length - 1:
        raise ValueError(f"window stride must be in [1, context_length - 1], got {stride}")
    windows: list[Window] = []
    for doc, n in enumerate(lengths):
        positions = int(n) - 1  # the last token is only ever a target
        if positions < 1:
            continue
        start, scored_until = 0, 0
        while True:
            stop = min(start + context_length, positions)
            windows.append(Window(doc, start, stop, scored_until))
            scored_until = stop
            if stop == positions:
                break
            start += stride
    return windows


def plan_batches(windows: Sequence[Window], batch_tokens: int) -> list[list[Window]]:
    """Greedy packing, longest first: rows * (longest row) <= batch_tokens, at least one row per batch."""
    order = sorted(windows, key=lambda w: (-w.n_tokens, w.doc, w.start))
    batches: list[list[Window]] = []
    current: list[Window] = []
    for w in order:
        if current and (len(current) + 1) * current[0].n_tokens > batch_tokens:
            batches.append(current)
            current = []
        current.append(w)
    if current:
        batches.append(current)
    return batches


def document_offsets(lengths: Sequence[int]) -> np.ndarray:
    """Row of position (doc, x=0) in the flat (document, x) order: cumulative sum of max(len - 1, 0)."""
    counts = np.maximum(np.asarray(lengths, dtype=np.int64) - 1, 0)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else np.zeros(0, dtype=np.int64)

"""The context an ingest evaluates with: an explicit ``--context-length`` checked against the models' declared
max_position_embeddings, and recognised when it equals the default (so done units keep their configuration hash).

Reads local checkpoints' config.json only: nothing is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from convdiv.errors import ConvdivError


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

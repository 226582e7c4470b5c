"""What makes a unit the same unit under the same configuration, so that a re-run skips it when it is done.

:func:`config_hash` (bump :data:`RESULTS_VERSION` to recompute every unit) over the :func:`checkpoint_fingerprint`
of the weights a unit reads, its comparisons, the corpus and the context it is computed with.
"""

from __future__ import annotations

import hashlib
import json

from convdiv import __version__
from convdiv.ingest.units import UnitPlan

# Bump when a change to the extract engine changes stored values: every done unit is then recomputed.
# 2: windows feed only input tokens, so each position past the first window gets one more token of context
#    (the study's 2048/1024 windows; see extract/windows.py).
# 3: ce over the model's full output width (entropy and KLs stay over the renormalised |V|); reductions in a
#    fixed order, independent of grouping and chunking (see extract/kernels.py).
RESULTS_VERSION = 3


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

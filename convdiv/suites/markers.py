"""When a local checkpoint is complete, for an ingest that follows a training run as it writes (``ingest --follow``).

A trainer writes ``<root>/<size>/seed<k>/step<N>/`` over seconds or minutes; a reader that opens it meanwhile may see
half a safetensors file. ``ingest --follow`` therefore reads a checkpoint only once its folder holds the marker file
:data:`COMPLETE_MARKER` (``convdiv.complete``), which the trainer writes after every other file of the checkpoint.
The demo trainer does both things a trainer can do: it writes the checkpoint, marker included, into a temporary
folder (``.step<N>.tmp``, a name the suite layout ignores) and renames it into place, so ``step<N>/`` appears
complete or not at all. A trainer that saves in place writes the marker last (:func:`mark_complete`, or
``touch step<N>/convdiv.complete`` after ``save_pretrained``).

The grid a training run will write (sizes, seeds, steps) must be known while it is still being written: a
``suite.toml`` in the folder, or a spec file beside it. The demo trainer writes :data:`TRAINING_SPEC`
(``training.toml``) when it starts and ``suite.toml`` only when every run is finished.
"""

from __future__ import annotations

from pathlib import Path

COMPLETE_MARKER = "convdiv.complete"
TRAINING_SPEC = "training.toml"


def checkpoint_complete(path: str | Path) -> bool:
    """Whether the local checkpoint folder ``path`` holds the marker that says its files are complete."""
    return (Path(path) / COMPLETE_MARKER).is_file()


def mark_complete(folder: Path) -> None:
    """Write the marker into a checkpoint folder whose files are all written (the last file a trainer writes)."""
    (Path(folder) / COMPLETE_MARKER).write_text("complete\n", encoding="utf-8")

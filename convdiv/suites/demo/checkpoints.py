"""A training run's files: ``step<N>/`` checkpoints, the optimiser state to resume from, and the training log.

A checkpoint is written in an order that makes a killed run resumable: the ``step<N>/`` folder (atomically, via a
temporary folder), then the optimiser state, then the log; a resume starts from the step the state names. The
folder holds the marker ``convdiv.complete`` (``suites.markers``) before it is renamed into place, so an ingest that
follows the training (``convdiv ingest --follow``) reads it as soon as it appears.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from convdiv.errors import ConvdivError
from convdiv.suites.markers import mark_complete

LOG_FILE = "train_log.jsonl"
STATE_FILE = "train_state.pt"
DONE_FILE = "done"


def save_checkpoint(model, opt, run_dir: Path, step: int, log: list[dict], row: dict) -> None:
    """Write step<N>/ atomically, then the resume state and the run's log (in this order: see train_run)."""
    import torch

    final = run_dir / f"step{step}"
    tmp = run_dir / f".step{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    mark_complete(tmp)  # inside the folder before the rename: step<N>/ never appears without it
    if final.exists():
        shutil.rmtree(final)  # a killed attempt got this far before; the retrained weights are identical
    tmp.replace(final)
    state_tmp = run_dir / (STATE_FILE + ".tmp")
    torch.save({"step": step, "optimizer": opt.state_dict()}, state_tmp)
    state_tmp.replace(run_dir / STATE_FILE)
    log.append(row)
    log_tmp = run_dir / (LOG_FILE + ".tmp")
    log_tmp.write_text("".join(json.dumps(r) + "\n" for r in log))
    log_tmp.replace(run_dir / LOG_FILE)


def read_run_log(run_dir: Path) -> list[dict]:
    """One run's log rows so far (empty before its first checkpoint)."""
    path = run_dir / LOG_FILE
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()] if path.is_file() else []


def read_train_log(root: Path) -> list[dict]:
    """The suite's ``train_log.jsonl`` rows: size, seed, step, train_loss, val_loss, lr, tokens."""
    path = Path(root) / LOG_FILE
    if not path.is_file():
        raise ConvdivError(f"no training log in {root}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

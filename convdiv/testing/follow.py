"""The demo trainer, really training a tiny configuration, for the tests of ``convdiv ingest --follow``.

``python -m convdiv.testing.follow DATA_DIR GATE`` trains :data:`FOLLOW_DEMO` into ``DATA_DIR/suites/follow-demo`` with
the demo's own code (tokenizer, models, optimiser, atomic checkpoints with their ``convdiv.complete`` marker,
``training.toml`` first and ``suite.toml`` last). The only thing added is pacing: before writing its k-th checkpoint
the trainer waits until the file GATE holds a number >= k, so a test decides when each checkpoint appears instead of
guessing how fast the machine trains. Runs train one after another (seed 1's steps, then seed 2's).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from convdiv.suites.demo.config import DemoConfig, DemoSize

FOLLOW_DEMO = DemoConfig(
    name="follow-demo",
    vocab_size=300,
    sizes=(DemoSize(hidden=16, layers=1, heads=2, lr=1e-2),),
    seeds=(1, 2),
    max_step=4,
    batch_size=4,
    seq_len=32,
    train_chars=40_000,
    val_sequences=2,
    steps=(0, 2, 4),
)


def gated(save, gate: Path):
    """``save`` (the demo's ``save_checkpoint``) that waits for the gate before each checkpoint."""
    written = 0

    def save_when_allowed(*args, **kwargs):
        nonlocal written
        while _allowed(gate) <= written:
            time.sleep(0.05)
        save(*args, **kwargs)
        written += 1

    return save_when_allowed


def _allowed(gate: Path) -> int:
    try:
        return int(gate.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def main(data_dir: str, gate: str) -> None:
    import convdiv.suites.demo.run as demo_run
    from convdiv.config import Settings
    from convdiv.suites.demo.train import train_demo

    demo_run.save_checkpoint = gated(demo_run.save_checkpoint, Path(gate))
    root = train_demo(Settings.from_env(data_dir=data_dir), config=FOLLOW_DEMO, progress=False, workers=1)
    print(root, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])

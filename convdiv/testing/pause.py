"""The fault tests' pause: `convdiv` run as ``python -m convdiv.testing.pause ARGS...`` (:data:`COMMAND`) pauses at
an ingest stage when :data:`PAUSE_ENV` asks for it, so that a test can kill the process there.

``PAUSE_ENV="[STAGE@]N:SECONDS:FILE"`` pauses the N-th passage of this process through STAGE (one of
``convdiv.warehouse.ledger.STAGES``; default ``publish``), writing its pid to FILE first so a test knows when and whom
to kill; deleting FILE ends the pause early. The pause is a hook in ``convdiv.warehouse.ledger.hooks``, installed
when this module is imported: also in the worker processes ``--workers`` spawns, which import the main module
again. The product itself never reads PAUSE_ENV.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from convdiv.warehouse import ledger

PAUSE_ENV = "CONVDIV_TEST_PUBLISH_PAUSE"
COMMAND = [sys.executable, "-m", "convdiv.testing.pause"]  # the `convdiv` command with the pause installed


class Pause:
    """The hook: sleep at the N-th passage through one stage, while FILE exists, at most SECONDS."""

    def __init__(self, spec: str) -> None:
        head, seconds, signal_file = spec.split(":", 2)
        stage, _, nth = head.rpartition("@")
        self.stage = stage or "publish"
        self.nth = int(nth)
        self.seconds = float(seconds)
        self.signal = Path(signal_file)
        self.passages = 0

    def __call__(self, stage: str) -> None:
        if stage != self.stage:
            return
        self.passages += 1
        if self.passages == self.nth:
            self.signal.write_text(str(os.getpid()))
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline and self.signal.exists():  # a test ends the pause by deleting FILE
                time.sleep(0.05)


def install() -> None:
    """Add the pause PAUSE_ENV asks for (if any) to the ledger's hooks, once."""
    spec = os.environ.get(PAUSE_ENV)
    if spec and not any(isinstance(h, Pause) for h in ledger.hooks):
        ledger.hooks.append(Pause(spec))


install()

if __name__ == "__main__":
    import runpy

    # The `convdiv` program itself, as `python -m convdiv` runs it (the testing layer runs the command, as the tests'
    # subprocesses do, rather than importing the layer above it). sys.modules["__main__"] stays this module, so the
    # worker processes `--workers` spawns import it again and install the pause too.
    runpy.run_module("convdiv", run_name="__main__")

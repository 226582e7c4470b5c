"""One ingest call's request: which suite and corpus, which selection of it, and how to compute it.

The one home of the ingest's knobs: the `convdiv ingest` command builds an :class:`IngestRequest` from its
options, :func:`convdiv.ingest.register.prepare` checks and resolves it into a plan, and
:func:`convdiv.ingest.run.run` carries it out. Values are kept as given (``sizes="xs,s"`` or ``["xs", "s"]``, None for
"the default"); :func:`convdiv.ingest.register.prepare` refuses bad ones in one line before anything is registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from convdiv.ingest.plan import DEFAULT_COMPARISONS

Selection = str | int | Iterable[str | int] | None  # comma-separated strings allowed; None: all of the suite's


@dataclass(frozen=True)
class IngestRequest:
    suite: str  # a suite name (pythia, demo, ...) or a local suite folder
    corpus: str  # a loaded corpus (`convdiv corpus list`)
    sizes: Selection = None
    seeds: Selection = None
    steps: Selection = None
    comparisons: str | Iterable[str] | None = DEFAULT_COMPARISONS  # seed_pairs, consecutive_steps, cross_size
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    dtype: str = "auto"  # auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16, float16
    batch_tokens: int | None = None  # None: plan.DEFAULT_BATCH_TOKENS
    context_length: int | None = None  # None: the corpus's window, else the models' max_position_embeddings
    workers: int = 1  # worker processes claiming units from the ledger
    devices: str | Iterable[str] | None = None  # one worker process per entry (cuda:0,cuda:1); overrides device
    cache_policy: str = "keep"  # evict: delete a hub checkpoint once every unit needing it is done
    force: bool = False  # recompute units already done
    memory_budget_gb: float | None = None  # None: sized from free RAM / GPU memory
    name: str | None = None  # store the suite under this name instead of its own
    wait: bool = True  # wait for units other live workers are computing (False: list them, exit status 3)
    follow: bool = False  # local suites: plan only units whose checkpoints are complete (suites.markers); the CLI
    # keeps following (convdiv.ingest.follow) until every unit is done or a signal stops it
    poll_seconds: float | None = None  # --follow: seconds between looks at the suite folder (None: FOLLOW_POLL_S)

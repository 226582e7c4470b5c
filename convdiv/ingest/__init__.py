"""`convdiv ingest`: the orchestration that turns a suite x corpus into published facts, unit by unit.

Read in the order a call goes, one way: commands.py (the click command) -> request.py
(:class:`~convdiv.ingest.request.IngestRequest`: the knobs, parsed and checked once) -> register.py (the request
resolved into a plan, drawing on devices.py, units.py, context_length.py, identity.py and memory.py; dimensions and
ledger units registered) -> plan.py (:class:`~convdiv.ingest.plan.Plan`, what every worker reads) -> run.py (the
call: :func:`~convdiv.ingest.run.run` and its keyword form :func:`~convdiv.ingest.run.ingest`) -> worker.py (claim,
load, compute with ``convdiv.extract``, publish through ``convdiv.warehouse.ledger``). Beside them: corpus_data.py
(the corpus as the engine reads it), progress.py (the bar and the ledger's progress lines), follow.py (``--follow``).
SQL of this layer: sql/.

Imports point down: this package uses ``convdiv.extract`` (compute), ``convdiv.suites`` (checkpoints) and
``convdiv.warehouse`` (ledger, loader); nothing below imports it.
"""

"""`convdiv ingest`: the orchestration that turns a suite x corpus into published facts, unit by unit.

request.py (:class:`~convdiv.ingest.request.IngestRequest`, the call's knobs), plan.py (units, configuration hashes,
group sizes), register.py (the request resolved into a plan; dimensions and ledger units registered), worker.py
(claim, load, compute with ``convdiv.extract``, publish), corpus_data.py (the corpus as the engine reads it),
run.py (the call: :func:`~convdiv.ingest.run.run` and its keyword form :func:`~convdiv.ingest.run.ingest`),
progress.py (the bar and the ledger's progress lines), commands.py (the click command). SQL of this layer: sql/.

Imports point down: this package uses ``convdiv.extract`` (compute), ``convdiv.suites`` (checkpoints) and
``convdiv.warehouse`` (ledger, loader); nothing below imports it.
"""

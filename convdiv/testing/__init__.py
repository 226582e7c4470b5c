"""Builders of small real artefacts for the tests and the benchmarks: scratch databases cloned from a migrated
template, tiny tokenizers and random-init suites, a tiny ingested corpus with float64 oracles, hand-made warehouses
with known answers, and the headless-browser harness for the report.

Nothing in convdiv imports this package; it imports the stages it exercises. It has no pytest dependency: the
fixtures that wrap these builders live in ``tests/conftest.py``.
"""

"""Builders of small real artefacts for the tests and the benchmarks: scratch databases cloned from a migrated
template, tiny tokenizers and random-init suites, a tiny ingested corpus with float64 oracles, and the
headless-browser harness for the report.

Synthetic warehouses, all written into the real schema by one set of writers (``writers``, SQL in ``sql/``): the
study-shaped warehouse of the report's tests (``synthetic``), the paper-scale warehouse of the benches (``paper``)
and hand-made warehouses with known answers (``warehouses``).

Nothing in convdiv imports this package (tests/test_layout.py checks it); it imports the stages it exercises. It has
no pytest dependency: the fixtures that wrap these builders live in ``tests/conftest.py``.
"""

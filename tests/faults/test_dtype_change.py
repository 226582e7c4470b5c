"""Fault: the same units requested again with another forward dtype.

The dtype changes the stored values, so it is part of what makes a unit done: a float32 request recomputes units
a bfloat16 run published (and the other way round) instead of skipping them, and the same dtype again skips.
"""

from __future__ import annotations

import psycopg

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.databases import libpq


def test_dtype_is_part_of_a_done_unit(engine, settings, db_url, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    args = dict(sizes="xs", steps="0", device="cpu", progress=False)

    def run(dtype):
        s = ingest(engine, settings, str(suite_root), S.CORPUS, dtype=dtype, **args)
        with psycopg.connect(libpq(db_url)) as conn:
            stored = conn.execute("SELECT dtype FROM ingest_unit WHERE status = 'done'").fetchall()
        return s.units_done, s.units_skipped, stored

    assert run("bfloat16") == (1, 0, [("bfloat16",)])
    assert run("bfloat16") == (0, 1, [("bfloat16",)])
    assert run("float32") == (1, 0, [("float32",)])
    assert run("float32") == (0, 1, [("float32",)])

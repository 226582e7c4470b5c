"""Hand-made warehouses with known answers: every value is written by hand, so the views' rules can be checked
against numbers chosen to sit on their edges.

The small warehouse is the opposite: nothing by hand, the tiny random-init suite ingested over a spaCy-tagged Austen
corpus by the real pipeline (for the API, export and JSON-output tests).

The curve warehouse is shaped like the study's four phases (uniform, unigram, convergence, divergence): sizes x two
seeds x STEPS, one corpus whose positions carry the given frequencies, and every position of a checkpoint carrying
that step's values (written with ``writers``, as every synthetic warehouse is); the aggregate tables are rebuilt at
the end.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from convdiv.config import Settings
from convdiv.testing import ingest as tiny
from convdiv.testing import writers
from convdiv.warehouse import aggregates, partitions
from convdiv.warehouse.engine import psycopg_connection

STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 2000, 4000, 8000]
# KL to uniform: flat until 8, rising from 16: threshold 0.01 + 0.1 * (6 - 0.01) = 0.609 -> uniform ends at 16
KL_UNIFORM = [0.01, 0.01, 0.01, 0.01, 0.01, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 5.8, 6]
# KL to unigram: lowest at 256 (the models' unigram phase)
KL_UNIGRAM = [3, 3, 3, 3, 3, 2, 1.5, 1.2, 1.0, 0.8, 0.9, 1.1, 1.3, 1.4, 1.5]
# E[KL] between seeds: an early bump (before the uniform phase ends, ignored), sharp convergence to 256,
# sharp divergence to 2000, slow reconvergence after
EXPECTED_KL = {
    "m": [0.001, 0.5, 2.0, 3.0, 1.0, 1.0, 0.6, 0.3, 0.2, 0.1, 0.5, 1.2, 1.5, 1.3, 1.1],
    # still diverging at the last step: no reconvergence seen
    "l": [0.001, 0.5, 2.0, 3.0, 1.0, 1.0, 0.6, 0.3, 0.2, 0.1, 0.5, 1.2, 1.5, 1.6, 1.7],
}
# never dips: rises from the end of the uniform phase (16) to a peak at 1000, then decays (demo-quick's shape)
RISING = [0.001, 0.002, 0.003, 0.005, 0.01, 0.05, 0.25, 0.5, 0.8, 1.0, 1.2, 1.3, 1.25, 1.2, 1.1]


def build_curve_warehouse(engine, frequencies=(5, 50), curves: dict | None = None) -> None:
    """Sizes (``curves``: size -> E[KL] per step, default EXPECTED_KL) x two seeds x STEPS; every position of a
    checkpoint carries the step's curve values."""
    curves = EXPECTED_KL if curves is None else curves
    with engine.begin() as conn, psycopg_connection(conn).cursor() as cur:
        suite = writers.insert_suite(cur, "curve")
        corpus_row = writers.CorpusRow(name="c", vocab_size=10, n_documents=1, n_positions=len(frequencies))
        corpus = writers.insert_corpus(cur, corpus_row)
        writers.copy_rows(cur, "copy_vocab_token", ((corpus, t, f"tok{t}", 1, -2.3) for t in range(10)))
        partitions.lock_position_ids(conn)
        positions = [
            writers.returning(cur, "insert_position", corpus_id=corpus, idx=i, frequency=f)
            for i, f in enumerate(frequencies)
        ]
        partitions.attach(conn, corpus)  # the corpus's partitions of the fact tables, as corpus add makes them
        ckpts = writers.insert_grid(cur, suite, list(curves), (1, 2), STEPS, run_source=lambda size, seed: "x")
        for (_size, _seed, step), ck in ckpts.items():
            i = STEPS.index(step)
            for p in positions:
                values = {"kl_uniform": KL_UNIFORM[i], "kl_unigram": KL_UNIGRAM[i]}
                writers.execute(cur, "insert_checkpoint_token", checkpoint_id=ck, position_id=p, **values)
        for size, curve in curves.items():
            for i, step in enumerate(STEPS):
                cmp = writers.insert_comparison(cur, "seed_pair", ckpts[size, 1, step], ckpts[size, 2, step])
                for p in positions:
                    writers.execute(cur, "insert_pair_token", comparison_id=cmp, position_id=p, kl=curve[i])
        aggregates.rebuild(conn)


def fill_small_warehouse(url: str, suite_root: Path, data_dir: Path) -> None:
    """Into the migrated database `url`: the tiny corpus and every unit of the tiny suite at `suite_root` (built by
    :func:`convdiv.testing.ingest.build_suite`), seed pairs and consecutive steps."""
    from convdiv.ingest.run import ingest

    engine = sa.create_engine(url)
    try:
        tiny.add_tiny_corpus(engine, suite_root)
        settings = Settings.from_env(database_url=url, data_dir=data_dir)
        ingest(
            engine, settings, str(suite_root), tiny.CORPUS, comparisons="seed_pairs,consecutive_steps", progress=False
        )
    finally:
        engine.dispose()

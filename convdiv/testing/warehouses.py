"""Hand-made warehouses with known answers: every value is written by hand, so the views' rules can be checked
against numbers chosen to sit on their edges.

The small warehouse is the opposite: nothing by hand, the tiny random-init suite ingested over a spaCy-tagged Austen
corpus by the real pipeline (for the API, export and JSON-output tests).

The curve warehouse is shaped like the study's four phases (uniform, unigram, convergence, divergence): sizes x two
seeds x STEPS, one corpus whose positions carry the given frequencies, and every position of a checkpoint carrying
that step's values; the aggregate tables are rebuilt at the end.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from convdiv.config import Settings
from convdiv.testing import ingest as tiny
from convdiv.warehouse import aggregates, partitions

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


def _insert(conn, sql: str, **params):
    return conn.execute(sa.text(sql), params).scalar()


def build_curve_warehouse(engine, frequencies=(5, 50), curves: dict | None = None) -> None:
    """Sizes (``curves``: size -> E[KL] per step, default EXPECTED_KL) x two seeds x STEPS; every position of a
    checkpoint carries the step's curve values."""
    curves = EXPECTED_KL if curves is None else curves
    with engine.begin() as conn:
        suite = _insert(
            conn,
            "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('curve', 'local', 't', '{}') RETURNING suite_id",
        )
        corpus = _insert(
            conn,
            "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, "
            "n_documents, n_positions, frequency_source, options) "
            "VALUES ('c', 't', 'x', 10, 'y', 1, :n, 'self', '{}') RETURNING corpus_id",
            n=len(frequencies),
        )
        for token_id in range(10):
            conn.execute(
                sa.text("INSERT INTO vocab_token VALUES (:c, :t, :tok, 1, -2.3)"),
                dict(c=corpus, t=token_id, tok=f"tok{token_id}"),
            )
        partitions.lock_position_ids(conn)
        positions = [
            _insert(
                conn,
                "INSERT INTO position (corpus_id, document, idx, context_token_id, target_token_id, pos_t, "
                "pos_prev, begin_of_word, end_of_word, frequency) "
                "VALUES (:c, 0, :i, 1, 2, 'NN', 'DT', true, true, :f) RETURNING position_id",
                c=corpus,
                i=i,
                f=f,
            )
            for i, f in enumerate(frequencies)
        ]
        partitions.attach(conn, corpus)  # the corpus's partitions of the fact tables, as corpus add makes them
        for rank, (size, curve) in enumerate(curves.items()):
            model = _insert(
                conn,
                "INSERT INTO model (suite_id, size, size_rank) VALUES (:s, :z, :r) RETURNING model_id",
                s=suite,
                z=size,
                r=rank,
            )
            ckpts = {}
            for seed in (1, 2):
                run = _insert(
                    conn,
                    "INSERT INTO run (model_id, seed, source) VALUES (:m, :s, 'x') RETURNING run_id",
                    m=model,
                    s=seed,
                )
                for i, step in enumerate(STEPS):
                    ck = _insert(
                        conn,
                        "INSERT INTO checkpoint (run_id, step) VALUES (:r, :t) RETURNING checkpoint_id",
                        r=run,
                        t=step,
                    )
                    ckpts[seed, step] = ck
                    for p in positions:
                        conn.execute(
                            sa.text("INSERT INTO checkpoint_token VALUES (:c, :p, 5.0, 1.0, :u, :g)"),
                            dict(c=ck, p=p, u=KL_UNIFORM[i], g=KL_UNIGRAM[i]),
                        )
            for i, step in enumerate(STEPS):
                cmp = _insert(
                    conn,
                    "INSERT INTO comparison (kind, checkpoint_a, checkpoint_b) "
                    "VALUES ('seed_pair', :a, :b) RETURNING comparison_id",
                    a=ckpts[1, step],
                    b=ckpts[2, step],
                )
                for p in positions:
                    conn.execute(
                        sa.text("INSERT INTO pair_token VALUES (:c, :p, :k, :k)"), dict(c=cmp, p=p, k=curve[i])
                    )
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

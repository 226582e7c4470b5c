"""`ingest` end to end on a tiny random-init local suite and a real corpus in a real PostgreSQL.

Checks row counts (checkpoints x positions, comparisons x positions), that stored values are exactly the extract
engine's output and agree with an independent float64 oracle, idempotence, --force, and config changes.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from convdiv.ingest.corpus_data import read_corpus
from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S


@pytest.fixture
def corpus(engine, suite_root):
    return S.add_tiny_corpus(engine, suite_root)


def _n_positions(db_url, corpus_id):
    return S.count(db_url, "SELECT count(*) FROM position WHERE corpus_id = %s", (corpus_id,))


def test_row_counts_all_comparisons(engine, settings, db_url, suite_root, corpus):
    summary = ingest(
        engine,
        settings,
        str(suite_root),
        S.CORPUS,
        steps="0,1,16",
        comparisons="seed_pairs,consecutive_steps,cross_size",
        progress=False,
    )
    n = _n_positions(db_url, corpus)
    assert n > 100
    sizes, seeds, steps = len(S.SIZES), len(S.SEEDS), 3
    n_checkpoints = sizes * seeds * steps
    seed_pairs = sizes * steps * seeds * (seeds - 1) // 2
    consecutive = sizes * seeds * steps - sizes * seeds  # step 0 has no previous step
    cross = steps * seeds * sizes * (sizes - 1) // 2
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == n_checkpoints * n
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == (seed_pairs + consecutive + cross) * n
    kinds = dict(
        psycopg.connect(S.conninfo(db_url)).execute("SELECT kind, count(*) FROM comparison GROUP BY kind").fetchall()
    )
    assert kinds == {"seed_pair": seed_pairs, "consecutive_step": consecutive, "cross_size": cross}
    # consecutive steps compare the suite's previous step even when it was not selected (16 <- 4)
    assert (
        S.count(
            db_url,
            "SELECT count(*) FROM comparison c JOIN checkpoint a ON a.checkpoint_id = c.checkpoint_a"
            " JOIN checkpoint b ON b.checkpoint_id = c.checkpoint_b WHERE c.kind = 'consecutive_step'"
            " AND a.step = 4 AND b.step = 16",
        )
        == sizes * seeds
    )
    assert summary.units_done == sizes * steps + steps and summary.units_failed == 0
    assert summary.rows_checkpoint_token == n_checkpoints * n
    # asking for cross-size comparisons alone touches only the cross-size units (here: all done already)
    again = ingest(
        engine, settings, str(suite_root), S.CORPUS, steps="0,1,16", comparisons="cross_size", progress=False
    )
    assert (again.units_total, again.units_done, again.units_skipped) == (steps, 0, steps)
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == (seed_pairs + consecutive + cross) * n
    # ledger provenance
    with psycopg.connect(S.conninfo(db_url)) as conn:
        rows = conn.execute(
            "SELECT status, code_version, device, dtype, batch_tokens, elapsed_s, config_hash,"
            " rows_checkpoint_token, rows_pair_token FROM ingest_unit"
        ).fetchall()
        assert len(rows) == summary.units_done
        for status, version, device, dtype, batch, elapsed, chash, rc, rp in rows:
            assert (status, device, dtype, batch) == ("done", "cpu", "float32", 8192)
            assert version and elapsed >= 0 and len(chash) == 64 and rc + rp > 0
        # dimensions: tokenizer fingerprint, size ranks, parameter counts, weights sha256
        tok_sha, spec = conn.execute("SELECT tokenizer_sha256, spec FROM suite").fetchone()
        assert tok_sha == conn.execute("SELECT tokenizer_sha256 FROM corpus").fetchone()[0]
        assert spec["seeds"] == list(S.SEEDS)
        assert conn.execute("SELECT count(*) FROM model WHERE n_params > 0").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM checkpoint WHERE weights_sha256 IS NULL").fetchone()[0] == 0


def test_values_equal_engine_and_float64_oracle(engine, settings, db_url, suite_root, corpus):
    ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,16", progress=False)
    with psycopg.connect(S.conninfo(db_url)) as conn:
        data = read_corpus(
            conn,
            corpus,
            *conn.execute("SELECT vocab_size, name FROM corpus WHERE corpus_id = %s", (corpus,)).fetchone(),
        )

        def stored(seed, step):
            return np.array(
                conn.execute(
                    "SELECT ct.ce, ct.entropy, ct.kl_uniform, ct.kl_unigram FROM checkpoint_token ct"
                    " JOIN checkpoint c USING (checkpoint_id) JOIN run r USING (run_id) JOIN position p USING (position_id)"
                    " WHERE r.seed = %s AND c.step = %s ORDER BY p.document, p.idx",
                    (seed, step),
                ).fetchall(),
                np.float32,
            )

        def stored_pair(kind, seed_a, step_a, seed_b, step_b):
            return np.array(
                conn.execute(
                    "SELECT pt.kl_ab, pt.kl_ba FROM pair_token pt JOIN comparison cm USING (comparison_id)"
                    " JOIN checkpoint a ON a.checkpoint_id = cm.checkpoint_a JOIN run ra ON ra.run_id = a.run_id"
                    " JOIN checkpoint b ON b.checkpoint_id = cm.checkpoint_b JOIN run rb ON rb.run_id = b.run_id"
                    " JOIN position p USING (position_id)"
                    " WHERE cm.kind = %s AND ra.seed = %s AND a.step = %s AND rb.seed = %s AND b.step = %s"
                    " ORDER BY p.document, p.idx",
                    (kind, seed_a, step_a, seed_b, step_b),
                ).fetchall(),
                np.float32,
            )

        vocab = len(data.log_unigram)
        targets = np.concatenate([d[1:] for d in data.documents])

        # 1. exactly the engine's output (same models, same documents, same pairs)
        from convdiv.extract.engine import extract_group
        from convdiv.suites.loading import load_checkpoint
        from convdiv.suites.spec import get_suite

        spec = get_suite(str(suite_root), settings)
        labels = {s: f"xs/seed{s}/step16" for s in S.SEEDS}
        models = {lab: load_checkpoint(spec.ref("xs", s, 16)).model for s, lab in labels.items()}
        result = extract_group(models, data.documents, data.log_unigram, vocab, [(labels[1], labels[2])])
        np.testing.assert_array_equal(stored(1, 16), np.maximum(result.stats[labels[1]], [-np.inf, -np.inf, 0, 0]))
        np.testing.assert_array_equal(
            stored_pair("seed_pair", 1, 16, 2, 16), np.maximum(result.pair_kl[(labels[1], labels[2])], 0)
        )

        # 2. an independent float64 oracle, at the near-uniform step 0 and at step 16
        for step in (0, 16):
            logp = {
                s: np.concatenate(
                    [
                        S.oracle_logprobs(suite_root / "xs" / f"seed{s}" / f"step{step}", d, vocab)
                        for d in data.documents
                    ]
                )
                for s in (1, 3)
            }
            full = np.concatenate(
                [S.oracle_logprobs(suite_root / "xs" / "seed1" / f"step{step}", d, None) for d in data.documents]
            )
            assert full.shape[1] > vocab  # the suite's logits are padded: ce's full width is really tested
            want = S.oracle_stats(logp[1], targets, data.log_unigram, full)
            np.testing.assert_allclose(stored(1, step), want, atol=1e-5, rtol=1e-5)
            np.testing.assert_allclose(stored(1, step)[:, 2:], want[:, 2:], atol=1e-6, rtol=1e-4)
            kl = stored_pair("seed_pair", 1, step, 3, step)
            np.testing.assert_allclose(kl[:, 0], S.oracle_kl(logp[1], logp[3]), atol=1e-6, rtol=1e-4)
            np.testing.assert_allclose(kl[:, 1], S.oracle_kl(logp[3], logp[1]), atol=1e-6, rtol=1e-4)
        # the tiny-KL regime really is tested: step-0 KLs between seeds are far below step 16's
        assert stored_pair("seed_pair", 1, 0, 3, 0).mean() < 0.01 * stored_pair("seed_pair", 1, 16, 3, 16).mean()
        # consecutive step 0 -> 16? no: the suite's step before 16 is 4, which this call loaded but did not store
        cons = stored_pair("consecutive_step", 2, 4, 2, 16)
        assert cons.shape == (len(targets), 2) and (cons >= 0).all()
        assert (
            S.count(
                db_url,
                "SELECT count(*) FROM checkpoint_token ct JOIN checkpoint c USING (checkpoint_id) WHERE c.step = 4",
            )
            == 0
        )


def test_idempotent_and_force(engine, settings, db_url, suite_root, corpus):
    args = dict(sizes="xs", steps="1,4", progress=False)
    first = ingest(engine, settings, str(suite_root), S.CORPUS, **args)
    assert first.units_done == 2
    before = S.snapshot(db_url)
    ledger_sql = "SELECT unit_key, status, config_hash, finished_at FROM ingest_unit ORDER BY unit_key"
    with psycopg.connect(S.conninfo(db_url)) as conn:
        ledger_before = conn.execute(ledger_sql).fetchall()
    n_comparisons = S.count(db_url, "SELECT count(*) FROM comparison")

    again = ingest(engine, settings, str(suite_root), S.CORPUS, **args)
    assert (again.units_done, again.units_skipped) == (0, 2)
    assert S.snapshot(db_url) == before
    with psycopg.connect(S.conninfo(db_url)) as conn:
        assert conn.execute(ledger_sql).fetchall() == ledger_before
    assert S.count(db_url, "SELECT count(*) FROM comparison") == n_comparisons

    forced = ingest(engine, settings, str(suite_root), S.CORPUS, force=True, **args)
    assert (forced.units_done, forced.units_skipped) == (2, 0)
    assert S.snapshot(db_url) == before  # recomputed, same values, no duplicates
    with psycopg.connect(S.conninfo(db_url)) as conn:
        after = conn.execute(ledger_sql).fetchall()
    assert [r[:3] for r in after] == [r[:3] for r in ledger_before]
    assert all(a[3] > b[3] for a, b in zip(after, ledger_before))


def test_changed_selection_recomputes_the_unit(engine, settings, db_url, suite_root, corpus):
    """A narrower seed selection recomputes the unit's selected checkpoints and never drops the other seeds."""
    ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0", progress=False)
    n = _n_positions(db_url, corpus)
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == 3 * n
    summary = ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0", seeds="1,2", progress=False)
    assert summary.units_done == 1
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 3 * n
    assert S.count(db_url, "SELECT count(*) FROM pair_token") == 3 * n
    seeds = "SELECT count(DISTINCT r.seed) FROM checkpoint_token ct JOIN checkpoint c USING (checkpoint_id) JOIN run r USING (run_id)"
    assert S.count(db_url, seeds) == 3


def test_cli_summary_and_identical_weights_warning(engine, settings, db_url, suite_root, corpus, tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = S.copy_suite(suite_root, tmp_path / "tiny")
    # A run whose step 4 holds byte-identical weights to its step 1 (as some published Pythia branches do).
    run = root / "xs" / "seed1"
    shutil.copy(run / "step1" / "model.safetensors", run / "step4" / "model.safetensors")
    env = {**os.environ, "DATABASE_URL": db_url, "CONVDIV_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("convdiv")),
            "ingest",
            str(root),
            "--corpus",
            S.CORPUS,
            "--sizes",
            "xs",
            "--seeds",
            "1,2",
            "--steps",
            "1,4",
            "--no-progress",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "units done" in proc.stdout and "pair_token rows" in proc.stdout
    assert "warning:" in proc.stdout and "steps 1, 4 have identical weights" in proc.stdout
    n = _n_positions(db_url, corpus)
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * 2 * n
    # identical weights -> the consecutive-step KL 1 -> 4 of seed 1 is exactly 0 at every position
    assert (
        S.count(
            db_url,
            "SELECT count(*) FROM pair_token pt JOIN comparison c USING (comparison_id)"
            " JOIN checkpoint a ON a.checkpoint_id = c.checkpoint_a JOIN run r ON r.run_id = a.run_id"
            " WHERE c.kind = 'consecutive_step' AND r.seed = 1 AND a.step = 1"
            " AND pt.kl_ab = 0 AND pt.kl_ba = 0",
        )
        == n
    )

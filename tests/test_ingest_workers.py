"""Several workers against one database: claims are exclusive, a dead worker's units become claimable again,
and `ingest(workers=2)` processes every unit exactly once."""

from __future__ import annotations

import psycopg

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.warehouse import ledger


def _units(db_url, n_units=6):
    """A suite, a corpus and n ledger units, made with plain SQL (the claim protocol needs nothing else)."""
    with psycopg.connect(S.conninfo(db_url)) as conn:
        suite_id = conn.execute(
            "INSERT INTO suite (name, source, tokenizer, spec) VALUES ('s', 'local', 't', '{}') RETURNING suite_id"
        ).fetchone()[0]
        corpus_id = conn.execute(
            "INSERT INTO corpus (name, tokenizer, tokenizer_sha256, vocab_size, content_sha256, n_documents,"
            " n_positions, frequency_source, options) VALUES ('c', 't', 'x', 1, 'x', 0, 0, 'self', '{}')"
            " RETURNING corpus_id"
        ).fetchone()[0]
        ids = ledger.ensure_units(conn, suite_id, corpus_id, [f"size=a/step={i}" for i in range(n_units)])
    runs = [ledger.start_run(S.conninfo(db_url), {}, "test") for _ in range(3)]
    return [ledger.Candidate(ids[f"size=a/step={i}"], "h", "size=a") for i in range(n_units)], runs


def test_claims_are_exclusive_and_released_by_a_dead_session(db_url):
    info = S.conninfo(db_url)
    candidates, (run_a, run_b, run_c) = _units(db_url)
    a = ledger.claim(info, candidates, run_a, limit=4)
    b = ledger.claim(info, candidates, run_b, limit=4)
    assert a is not None and b is not None
    assert len(a.unit_ids) == 4 and len(b.unit_ids) == 2
    assert not set(a.unit_ids) & set(b.unit_ids)
    assert ledger.claim(info, candidates, run_c, limit=4) is None  # everything is held
    with psycopg.connect(info) as conn:
        owners = dict(
            conn.execute("SELECT unit_id, ingest_run_id FROM ingest_unit WHERE status = 'running'").fetchall()
        )
    assert owners == {**{u: run_a for u in a.unit_ids}, **{u: run_b for u in b.unit_ids}}

    # Worker A dies (its sessions end without any cleanup): its units, still 'running', are claimable again.
    a.conn.close()
    assert a.hold is not None
    a.hold.close()
    c = ledger.claim(info, candidates, run_c, limit=10)
    assert c is not None and sorted(c.unit_ids) == sorted(a.unit_ids)
    # Units already done under the wanted config hash are never claimed; another hash makes them due again.
    with psycopg.connect(info) as conn:
        conn.execute("UPDATE ingest_unit SET status = 'done', config_hash = 'h', finished_at = now()")
    c.release()
    b.release()
    assert ledger.claim(info, candidates, run_c, limit=10) is None
    changed = [ledger.Candidate(x.unit_id, "other", x.group) for x in candidates]
    again = ledger.claim(info, changed, run_c, limit=10)
    assert again is not None and len(again.unit_ids) == len(candidates)
    again.release()


def test_claim_takes_one_group_at_a_time(db_url):
    info = S.conninfo(db_url)
    candidates, (run_a, _, _) = _units(db_url)
    mixed = [ledger.Candidate(c.unit_id, c.config_hash, "g1" if i % 2 else "g0") for i, c in enumerate(candidates)]
    got = ledger.claim(info, mixed, run_a, limit={"g0": 10, "g1": 10})
    assert got is not None and got.unit_ids == [c.unit_id for c in mixed if c.group == "g0"]
    got.release()


def test_two_worker_processes_split_the_units(engine, settings, db_url, suite_root):
    S.add_tiny_corpus(engine, suite_root)
    # A small memory budget -> one unit per claim, so both workers get several claims to race for.
    summary = ingest(
        engine, settings, str(suite_root), S.CORPUS, steps="0,1,4", workers=2, memory_budget_gb=1, progress=False
    )
    assert summary.units_failed == 0 and summary.units_done == 6
    per_worker = [[o.unit_key for o in r.outcomes if o.status == "done"] for r in summary.workers]
    assert len(per_worker) == 2
    all_units = [k for keys in per_worker for k in keys]
    assert sorted(all_units) == sorted(set(all_units))  # no unit processed twice
    assert len(all_units) == 6
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * 3 * 3 * n
    with psycopg.connect(S.conninfo(db_url)) as conn:
        owners = conn.execute("SELECT count(DISTINCT ingest_run_id) FROM ingest_unit").fetchone()[0]
    assert 1 <= owners <= 2


def test_a_claim_in_progress_does_not_hide_the_backlog(db_url):
    """Rows another claimer has locked right now are skipped, and the rest of the backlog is still claimable."""
    info = S.conninfo(db_url)
    candidates, (run_a, run_b, _) = _units(db_url, n_units=4)
    with psycopg.connect(info) as other:  # another claimer, in the middle of its claim transaction
        locked = other.execute("SELECT unit_id FROM ingest_unit ORDER BY unit_id LIMIT 1 FOR UPDATE").fetchone()[0]
        got = ledger.claim(info, candidates, run_b, limit=10)
        assert got is not None and locked not in got.unit_ids and len(got.unit_ids) == 3
    got.release()


def test_claim_query_locks_only_what_it_may_take(db_url):
    """A claimer in its claim transaction row-locks `limit` units, not the whole backlog (else a concurrent
    claimer would find nothing to do and stop early)."""
    info = S.conninfo(db_url)
    candidates, _ = _units(db_url, n_units=4)
    params = {
        "unit_ids": [c.unit_id for c in candidates],
        "config_hashes": [c.config_hash for c in candidates],
        "force_before": None,
        "exclude": [],
        "limit": 1,
    }
    with psycopg.connect(info) as a, psycopg.connect(info) as b:
        assert len(a.execute(ledger.Q["claim_candidates"], params).fetchall()) == 1
        free = b.execute("SELECT count(*) FROM (SELECT 1 FROM ingest_unit FOR UPDATE SKIP LOCKED) x").fetchone()[0]
        assert free == 3

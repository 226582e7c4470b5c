"""Fault: the read-only analyst (`convdiv db grant-analyst`) tries every lock the ingest relies on while an ingest
runs. Claims are row locks on the ledger and publishes serialise on row locks of model and comparison_group, which
need UPDATE: the analyst cannot take them (permission denied), and what it can take (advisory locks on the keys the
ingest used before, ACCESS SHARE on the tables) neither stops, stalls nor fools an `ingest --force`: every unit is
recomputed by it, exit 0."""

from __future__ import annotations

import psycopg
import pytest

from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv
from convdiv.testing.databases import drop_roles, libpq
from convdiv.warehouse.roles import grant_analyst

ARGS = ["--sizes", "xs", "--steps", "0,1", "--no-progress"]
TABLES = ("ingest_unit", "ingest_run", "model", "comparison_group", "checkpoint", "comparison")
ROW_LOCKS = ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE")
TABLE_LOCKS = (
    "ROW SHARE",
    "ROW EXCLUSIVE",
    "SHARE UPDATE EXCLUSIVE",
    "SHARE",
    "SHARE ROW EXCLUSIVE",
    "EXCLUSIVE",
    "ACCESS EXCLUSIVE",
)
# the advisory-lock classes the claims (0x43445631) and the publishes (per size, per group) used up to migration 0016
OLD_CLAIM, OLD_SIZE, OLD_GROUP = 0x43445631, 1128552242, 1128552243


@pytest.fixture
def analyst(engine, db_url):
    role = grant_analyst(engine, f"analyst_{engine.url.database[-12:]}", login=True).role
    yield role
    drop_roles(db_url, role)


def _ids(db_url: str, sql: str) -> list[int]:
    with psycopg.connect(libpq(db_url)) as conn:
        return [r[0] for r in conn.execute(sql).fetchall()]


def test_analyst_cannot_take_a_lock_the_ingest_relies_on(engine, db_url, suite_root, tmp_path, analyst):
    S.add_tiny_corpus(engine, suite_root)
    first = convdiv(
        "ingest", str(suite_root), "--corpus", S.CORPUS, *ARGS, database_url=db_url, data_dir=tmp_path / "data"
    )
    assert first.returncode == 0, first.stderr
    units = _ids(db_url, "SELECT unit_id FROM ingest_unit ORDER BY 1")
    models = _ids(db_url, "SELECT model_id FROM model ORDER BY 1")
    groups = _ids(db_url, "SELECT group_id FROM comparison_group ORDER BY 1")
    assert len(units) == 2 and models and groups
    views = ["ingest_coverage", "ingest_provenance"]

    # privileges alone (the read-only session switched off) refuse every row lock and every table lock but ACCESS SHARE
    with psycopg.connect(libpq(db_url, analyst), autocommit=True, options="-c default_transaction_read_only=off") as c:
        for table in (*TABLES, *views):
            # (a view that aggregates refuses row locks outright: FOR UPDATE is not allowed with GROUP BY)
            refused = psycopg.errors.InsufficientPrivilege, psycopg.errors.FeatureNotSupported
            for mode in ROW_LOCKS:
                with pytest.raises(refused if table in views else psycopg.errors.InsufficientPrivilege):
                    c.execute(f"SELECT 1 FROM {table} {mode}")
            for mode in TABLE_LOCKS if table in TABLES else ():
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    with c.transaction():
                        c.execute(f"LOCK TABLE {table} IN {mode} MODE NOWAIT")

    # what it can take, it holds for the whole ingest: the old advisory keys, ACCESS SHARE, an open transaction
    t0 = _ids(db_url, "SELECT extract(epoch FROM now())::int")[0]
    holder = psycopg.connect(libpq(db_url, analyst))
    try:
        for unit in units:
            holder.execute("SELECT pg_advisory_lock(%s, %s)", (OLD_CLAIM, unit))
            holder.execute("SELECT pg_advisory_xact_lock(%s, %s)", (OLD_CLAIM, unit))
        for model in models:
            holder.execute("SELECT pg_advisory_lock(%s, %s)", (OLD_SIZE, model))
        for group in groups:
            holder.execute("SELECT pg_advisory_lock(%s, %s)", (OLD_GROUP, group))
        for table in TABLES:
            holder.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")
        holder.execute("SELECT count(*) FROM ingest_unit").fetchone()  # and idle in the transaction from here

        # a lock wait would end the ingest after 10 s with an error: exit 0 means it was never stalled
        proc = convdiv(
            "ingest",
            str(suite_root),
            "--corpus",
            S.CORPUS,
            *ARGS,
            "--force",
            database_url=db_url,
            data_dir=tmp_path / "data",
            env={"CONVDIV_LOCK_TIMEOUT": "10"},
        )
        assert proc.returncode == 0, proc.stderr
        assert (
            "ingest " in proc.stdout
            and ": 2 done, 0 skipped (already done), 0 done by other workers, 0 failed" in proc.stdout
        ), proc.stdout
    finally:
        holder.close()
    # not fooled: both units recomputed by that ingest (not assumed done by "another worker")
    recomputed = _ids(
        db_url,
        f"SELECT count(*) FROM ingest_unit u JOIN ingest_run r USING (ingest_run_id) "
        f"WHERE u.status = 'done' AND u.finished_at >= to_timestamp({t0}) AND r.status = 'done'",
    )
    assert recomputed == [2]
    n = S.count(db_url, "SELECT count(*) FROM position")
    assert S.count(db_url, "SELECT count(*) FROM checkpoint_token") == 2 * len(S.SEEDS) * n

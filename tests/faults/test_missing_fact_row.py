"""Fault: fact rows deleted (or added) by hand in a done unit, then `convdiv db rebuild`.

The rebuild makes the aggregates equal the damaged facts, so comparing aggregates with facts finds nothing; the
completeness check compares each done unit's facts with what it must hold (one row per position for each of its
checkpoints and comparisons, at least the rows recorded at publish) and names the unit. Before, `db check` exited 0.
"""

from __future__ import annotations

import json

import psycopg

from convdiv.ingest.run import ingest
from convdiv.testing import ingest as S
from convdiv.testing.cli import convdiv, one_error_line
from convdiv.testing.databases import libpq
from convdiv.warehouse import aggregates, completeness

DAMAGE = {
    "one checkpoint row deleted": (
        "DELETE FROM checkpoint_token WHERE (checkpoint_id, position_id) IN (SELECT ct.checkpoint_id, ct.position_id"
        " FROM checkpoint_token ct JOIN checkpoint c USING (checkpoint_id) JOIN run r USING (run_id)"
        " JOIN model m USING (model_id) WHERE c.step = 1 AND m.size = 'xs' LIMIT 1)",
        "size=xs/step=1",
        "checkpoint_token",
    ),
    "one pair row deleted": (
        "DELETE FROM pair_token WHERE (comparison_id, position_id) IN (SELECT pt.comparison_id, pt.position_id"
        " FROM pair_token pt JOIN comparison c USING (comparison_id) JOIN checkpoint b ON b.checkpoint_id = c.checkpoint_b"
        " JOIN run r ON r.run_id = b.run_id JOIN model m ON m.model_id = r.model_id"
        " WHERE c.kind = 'consecutive_step' AND m.size = 'xs' LIMIT 1)",
        "size=xs/step=1",
        "pair_token",
    ),
    "a whole checkpoint's rows deleted": (
        "DELETE FROM checkpoint_token WHERE checkpoint_id = (SELECT c.checkpoint_id FROM checkpoint c"
        " JOIN run r USING (run_id) JOIN model m USING (model_id) WHERE c.step = 0 AND r.seed = 2 AND m.size = 'xs')",
        "size=xs/step=0",
        "checkpoint_token",
    ),
    "one cross-size pair row deleted": (
        "DELETE FROM pair_token WHERE (comparison_id, position_id) IN (SELECT pt.comparison_id, pt.position_id"
        " FROM pair_token pt JOIN comparison c USING (comparison_id) JOIN checkpoint b"
        " ON b.checkpoint_id = c.checkpoint_b WHERE c.kind = 'cross_size' AND b.step = 0 LIMIT 1)",
        "cross_size/step=0",
        "pair_token",
    ),
    "one extra row": (
        # a seed-pair comparison of step 1 that no unit computed, given one row by hand
        "WITH c AS (INSERT INTO comparison (kind, checkpoint_a, checkpoint_b) SELECT 'seed_pair', a.checkpoint_id,"
        " b.checkpoint_id FROM checkpoint a JOIN run ra ON ra.run_id = a.run_id JOIN model ma ON ma.model_id = ra.model_id, checkpoint b JOIN run rb"
        " ON rb.run_id = b.run_id JOIN model mb ON mb.model_id = rb.model_id"
        " WHERE a.step = 1 AND b.step = 1 AND ra.seed = 3 AND rb.seed = 1 AND ma.size = 'xs' AND mb.size = 'xs'"
        " RETURNING comparison_id)"
        " INSERT INTO pair_token (comparison_id, position_id, kl_ab, kl_ba)"
        " SELECT c.comparison_id, (SELECT min(position_id) FROM position), 0.5, 0.5 FROM c",
        "size=xs/step=1",
        "pair_token",
    ),
}


def test_db_check_names_the_unit_after_a_rebuild(engine, settings, db_url, suite_root, tmp_path):
    """The issue's case through the command line: one fact row deleted, `db rebuild`, `db check` exits 1."""
    S.add_tiny_corpus(engine, suite_root)
    ingest(engine, settings, str(suite_root), S.CORPUS, sizes="xs", steps="0,1", progress=False)
    statement, unit, table = DAMAGE["one checkpoint row deleted"]
    with psycopg.connect(libpq(db_url)) as conn:
        conn.execute(statement)

    rebuild = convdiv("db", "rebuild", database_url=db_url, data_dir=tmp_path / "data")
    assert unit in one_error_line(rebuild) and "re-ingest" in one_error_line(rebuild)
    check = convdiv("db", "check", database_url=db_url, data_dir=tmp_path / "data")
    line = one_error_line(check)
    assert unit in line and S.CORPUS in line, line
    assert f"incomplete unit: suite 'tiny', corpus {S.CORPUS!r}, unit {unit}: {table}" in check.stdout
    as_json = convdiv("db", "check", "--json", database_url=db_url, data_dir=tmp_path / "data")
    gaps = json.loads(as_json.stdout)["incomplete_units"]
    assert as_json.returncode == 1 and [(g["unit_key"], g["fact_table"]) for g in gaps] == [(unit, table)]


def test_every_kind_of_damage_is_found_with_its_unit(engine, settings, db_url, suite_root):
    """Each damage in its own transaction (rolled back), after the aggregates were rebuilt from the damaged facts;
    the undamaged warehouse, cross-size units included, has no gap (the check is not always failing)."""
    S.add_tiny_corpus(engine, suite_root)
    ingest(
        engine,
        settings,
        str(suite_root),
        S.CORPUS,
        sizes="xs,s",
        steps="0,1",
        comparisons="seed_pairs,consecutive_steps,cross_size",
        progress=False,
    )
    assert completeness.check(engine) == []
    for damage, (statement, unit, table) in DAMAGE.items():
        with engine.connect() as conn:
            conn.exec_driver_sql(statement.replace("%", "%%"))
            aggregates.rebuild(conn)
            assert all(c.ok for c in aggregates.check(conn)), damage
            gaps = completeness.check(conn)
            conn.rollback()
        assert [(g.unit_key, g.fact_table) for g in gaps] == [(unit, table)], damage
        assert gaps[0].present != gaps[0].expected or gaps[0].incomplete, damage
        assert unit in gaps[0].describe()
    assert completeness.check(engine) == []

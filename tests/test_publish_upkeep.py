"""The publish after issue 23: a unit's rows checked before anything is written and COPYed straight into the facts
(convdiv.warehouse.unit_facts), its parts timed as they run; aggregate tables without foreign keys whose rows still
go with a deleted corpus, model, checkpoint, comparison or group (migration 0020's cascade_aggregates triggers)."""

from __future__ import annotations

import numpy as np
import pytest

from convdiv.errors import ConvdivError
from convdiv.testing.synthetic import build_synthetic_warehouse
from convdiv.warehouse import aggregates, ledger

# (aggregate table, its key column, the dimension table and column it points at)
KEYS = (
    ("final_surprisal", "model_id", "model", "model_id"),
    ("agg_token_ce", "model_id", "model", "model_id"),
    ("checkpoint_stats", "checkpoint_id", "checkpoint", "checkpoint_id"),
    ("comparison_stats", "comparison_id", "comparison", "comparison_id"),
    ("agg_comparison_moments", "comparison_id", "comparison", "comparison_id"),
    *(
        (table, "group_id", "comparison_group", "group_id")
        for table in (
            "agg_position_kl",
            "agg_context_variance",
            "agg_token_kl",
            "agg_regression_cells",
            "agg_regression_moments",
            "agg_conditional_kl",
        )
    ),
    *(
        (table, "corpus_id", "corpus", "corpus_id")
        for table in aggregates.AGGREGATE_TABLES
        if table != "comparison_group"
    ),
)


def _orphans(conn) -> dict[str, int]:
    out = {}
    for table, column, parent, parent_column in KEYS:
        out[f"{table}.{column}"] = conn.exec_driver_sql(
            f"SELECT count(*) FROM {table} a WHERE NOT EXISTS "
            f"(SELECT 1 FROM {parent} p WHERE p.{parent_column} = a.{column})"
        ).scalar()
    return out


def test_deleting_a_model_or_a_comparison_deletes_their_aggregate_rows_and_nothing_else(engine):
    build_synthetic_warehouse(engine, sizes=("14m", "70m"), seeds=(1, 2), steps=(0, 16, 256), n_positions=60)
    with engine.begin() as conn:
        model = conn.exec_driver_sql("SELECT model_id FROM model WHERE size = '14m'").scalar()
        owned = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM final_surprisal WHERE model_id = %(m)s), "
            "(SELECT count(*) FROM agg_position_kl k JOIN comparison_group g USING (group_id) WHERE g.model_a = %(m)s)",
            {"m": model},
        ).one()
        assert min(owned) > 0
        kept = conn.exec_driver_sql(
            "SELECT count(*) FROM agg_position_kl k JOIN comparison_group g USING (group_id) WHERE g.model_a <> %s",
            (model,),
        ).scalar()
        conn.exec_driver_sql("DELETE FROM model WHERE model_id = %s", (model,))  # cascades to runs, checkpoints, ...
        comparison = conn.exec_driver_sql("SELECT min(comparison_id) FROM comparison").scalar()
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM comparison_stats WHERE comparison_id = %s", (comparison,)
        ).scalar()
        conn.exec_driver_sql("DELETE FROM comparison WHERE comparison_id = %s", (comparison,))
    with engine.connect() as conn:
        assert set(_orphans(conn).values()) == {0}
        assert conn.exec_driver_sql("SELECT count(*) FROM agg_position_kl").scalar() == kept
        assert conn.exec_driver_sql("SELECT count(*) FROM final_surprisal").scalar() > 0
        no_keys = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
            (list(aggregates.AGGREGATE_TABLES[1:]),),
        ).scalar()
        assert no_keys == 0
    # what is left still equals its recomputation, except the deleted comparison's group (its other members remain)
    differing = {c.aggregate for c in aggregates.check(engine) if not c.ok}
    assert differing <= {
        "agg_position_kl",
        "agg_context_variance",
        "agg_token_kl",
        "agg_regression_cells",
        "agg_regression_moments",
        "agg_conditional_kl",
    }


def _unit(engine, db_url):
    """A claimed ledger unit owning one (size, step) of the synthetic suite, and its rows as the facts hold them."""
    build_synthetic_warehouse(engine, sizes=("14m",), seeds=(1, 2), steps=(0, 16), n_positions=50)
    info = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with ledger.connect(info) as conn:
        suite, corpus = conn.execute("SELECT s.suite_id, c.corpus_id FROM suite s, corpus c").fetchone()
        owned = [r[0] for r in conn.execute("SELECT checkpoint_id FROM checkpoint WHERE step = 16 ORDER BY 1")]
        comparisons = [
            r[0]
            for r in conn.execute(
                "SELECT comparison_id FROM comparison WHERE checkpoint_b = ANY(%s) ORDER BY 1", (owned,)
            )
        ]

        def read(sql, params, names):
            rows = conn.execute(sql, params).fetchall()
            cols = list(zip(*rows, strict=True))
            return {
                n: np.array(c, dtype=np.int32 if n.endswith("_id") else np.float32)
                for n, c in zip(names, cols, strict=True)
            }

        ct = read(
            "SELECT checkpoint_id, position_id, ce, entropy, kl_uniform, kl_unigram FROM checkpoint_token "
            "WHERE checkpoint_id = ANY(%s) ORDER BY 1, 2",
            (owned,),
            ["checkpoint_id", "position_id", "ce", "entropy", "kl_uniform", "kl_unigram"],
        )
        pt = read(
            "SELECT comparison_id, position_id, kl_ab, kl_ba FROM pair_token WHERE comparison_id = ANY(%s) ORDER BY 1, 2",
            (comparisons,),
            ["comparison_id", "position_id", "kl_ab", "kl_ba"],
        )
        unit = ledger.ensure_units(conn, suite, corpus, ["size=14m/step=16"])["size=14m/step=16"]
        conn.commit()
    run_id = ledger.start_run(info, {"test": True}, "test")
    claim = ledger.claim(info, [ledger.Candidate(unit, "h", "g")], run_id)
    assert claim is not None
    rows = ledger.UnitRows(
        unit_id=unit,
        unit_key="size=14m/step=16",
        corpus_id=corpus,
        config_hash="h",
        owned_checkpoint_ids=owned,
        owned_kinds=["seed_pair", "consecutive_step"],
        checkpoint_token=ct,
        pair_token=pt,
        expected_checkpoint_rows=len(ct["ce"]),
        expected_pair_rows=len(pt["kl_ab"]),
    )
    return claim, rows


def _facts(engine):
    with engine.connect() as conn:
        return [
            conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2").all()
            for table in ("checkpoint_token", "pair_token")
        ]


PROVENANCE = ledger.Provenance("test", "cpu", "float32", 0)


def test_a_republished_unit_gives_the_same_facts_and_aggregates_and_times_its_parts(engine, db_url):
    claim, rows = _unit(engine, db_url)
    before = _facts(engine)
    parts: dict[str, float] = {}
    try:
        counts = ledger.publish_unit(claim, rows, PROVENANCE, 0.0, timings=parts)
    finally:
        claim.release()
    assert counts == (rows.expected_checkpoint_rows, rows.expected_pair_rows)
    assert _facts(engine) == before
    assert set(parts) == {"facts", "aggregates", "done"} and all(v >= 0 for v in parts.values())
    assert all(c.ok for c in aggregates.check(engine))


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda r: r.checkpoint_token["ce"].__setitem__(3, np.nan), "1 rows with non-finite values or negative KL"),
        (lambda r: r.pair_token["kl_ba"].__setitem__(0, -1.0), "1 rows with non-finite values or negative KL"),
        (
            lambda r: r.checkpoint_token["checkpoint_id"].__setitem__(0, 999_999),
            "1 checkpoint rows of other checkpoints",
        ),
        (lambda r: r.pair_token["comparison_id"].__setitem__(1, 999_999), "1 pair rows of other comparisons"),
        (lambda r: r.pair_token["position_id"].__setitem__(2, 999_999), "1 rows of positions outside corpus"),
        (lambda r: setattr(r, "expected_pair_rows", r.expected_pair_rows + 1), "pair_token rows given"),
    ],
)
def test_a_spoiled_unit_is_refused_before_anything_is_written(engine, db_url, spoil, message):
    claim, rows = _unit(engine, db_url)
    before = _facts(engine)
    spoil(rows)
    try:
        with pytest.raises(ConvdivError, match=message):
            ledger.publish_unit(claim, rows, PROVENANCE, 0.0)
    finally:
        claim.release()
    assert _facts(engine) == before
    assert all(c.ok for c in aggregates.check(engine))

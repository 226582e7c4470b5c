"""The SQL files as replaceable objects (convdiv.warehouse.views), the latest migration's object list, rebuild and check."""

from __future__ import annotations

import importlib.util
import re

import pytest
import sqlalchemy as sa

from convdiv.errors import ConvdivError
from convdiv.testing.warehouses import build_curve_warehouse
from convdiv.warehouse import aggregates, views
from convdiv.warehouse.schema import MIGRATIONS_DIR

CONTRACT_VIEWS = {
    "token_records": "suite size size_rank seed step checkpoint_id position_id corpus document idx token_id token pos_t "
    "pos_prev group_t group_prev frequency log_frequency frequency_bin begin_of_word end_of_word ce "
    "entropy kl_uniform kl_unigram",
    "pair_records": "suite kind comparison_id size_a size_b seed_a seed_b step_a step_b position_id token pos_t "
    "pos_prev direction kl ce_a ce_b",
    "expected_kl": "suite corpus size size_rank step kind n_comparisons n_positions mean_kl sd_kl se_kl ci_low "
    "ci_high step_b",
    "reference_kl": "suite corpus size size_rank step n_seeds mean_kl_uniform sd_kl_uniform mean_kl_unigram "
    "sd_kl_unigram mean_ce sd_ce mean_entropy",
    "conditional_kl": "suite corpus size size_rank step kind family category n_comparisons n_positions mean_kl sd_kl "
    "se_kl ci_low ci_high mean_ce",
    "relative_divergence": "suite corpus size size_rank step kind family category n_positions mean_kl overall_kl "
    "sigma is_outlier",
    "ce_difference": "suite corpus comparison_id kind size_a size_b seed_a seed_b step_a step_b family category "
    "n_positions ce_a ce_b delta_h ce_ratio mean_kl",
    "phase_boundaries": "suite corpus size size_rank kind uniform_end_step convergence_min_step unigram_closest_step "
    "divergence_peak_step reconvergence_start_step paper_lines presentation_lines",
    "regression_inputs": "suite corpus comparison_id kind size size_rank step position_id kl log_frequency pos_t "
    "pos_prev",
    "token_divergence": "suite corpus size size_rank step kind token_id token occurrences mean_kl mean_ce",
    "context_variance": "suite corpus size size_rank step kind n_positions mean_kl sd_kl",
}


def _latest_migration():
    """The newest migration that pins the analysis layer (it lists every object of sql/ in creation order)."""
    path = sorted(p for p in MIGRATIONS_DIR.glob("versions/*.py") if "OBJECTS = (" in p.read_text())[-1]
    spec = importlib.util.spec_from_file_location("latest_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_file_is_one_documented_object_in_dependency_order():
    objs = views.objects()
    assert [o.name for o in objs] == list(_latest_migration().OBJECTS), "the latest migration must list sql/"
    names = [o.name for o in objs]
    for i, obj in enumerate(objs):
        text = obj.path.read_text()
        assert text.startswith(f"-- {obj.name}"), f"{obj.path.name}: header comment must start with the name"
        body = views._strip_comments(text)
        # an object may only use objects created before it
        later = [n for n in names[i + 1 :] if re.search(rf"\b{n}\b", body)]
        assert later == [], f"{obj.name} uses later objects {later}"
    # aggregates are tables maintained at publish (migration 0003): nothing needs a REFRESH
    assert [o.name for o in objs if o.kind == "materialized view"] == []


def test_views_have_the_contract_columns(engine):
    with engine.connect() as conn:
        for view, columns in CONTRACT_VIEWS.items():
            have = set(conn.exec_driver_sql(f"SELECT * FROM {view} LIMIT 0").keys())
            assert set(columns.split()) <= have, (view, set(columns.split()) - have)


def test_read_prefers_the_version_pinned_for_a_revision(tmp_path):
    (tmp_path / "010_thing.sql").write_text("-- thing\nCREATE VIEW thing AS SELECT 2 AS x;\n")
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "thing@0002.sql").write_text("-- thing\nCREATE VIEW thing AS SELECT 1 AS x;\n")
    assert "SELECT 1" in views.read("thing", as_of="0002", sql_dir=tmp_path)
    assert "SELECT 2" in views.read("thing", as_of="0003", sql_dir=tmp_path)
    assert "SELECT 2" in views.read("thing", sql_dir=tmp_path)
    with pytest.raises(ConvdivError, match="no SQL file"):
        views.read("other", sql_dir=tmp_path)
    (tmp_path / "011_wrong.sql").write_text("CREATE VIEW right_name AS SELECT 1;\n")
    with pytest.raises(ConvdivError, match="named for another object"):
        views.objects(tmp_path)


def test_replace_recreates_the_object_and_its_dependants(engine):
    build_curve_warehouse(engine)
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT * FROM phase_boundaries")).all()
        redone = views.replace(conn, "expected_kl")
        assert redone[0] == "expected_kl"
        assert {"conditional_kl", "relative_divergence", "phase_boundaries", "context_variance"} <= set(redone)
        assert conn.execute(sa.text("SELECT * FROM phase_boundaries")).all() == before


def test_check_finds_stale_aggregates_and_rebuild_fixes_them(engine):
    """Facts changed behind the ingest's back (a direct UPDATE): the maintained aggregates are stale, `check`
    names them, and `rebuild` recomputes them from the facts in the caller's transaction."""
    build_curve_warehouse(engine)
    assert all(c.ok for c in aggregates.check(engine))
    query = sa.text("SELECT mean_kl FROM expected_kl WHERE size = 'm' AND step = 2000")
    with engine.connect() as conn:
        assert conn.execute(query).scalar() == pytest.approx(1.5)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE pair_token SET kl_ab = 2.5 WHERE comparison_id IN (SELECT comparison_id FROM "
            "comparison_info WHERE size_a = 'm' AND step_a = 2000)"
        )
        assert conn.execute(query).scalar() == pytest.approx(1.5)  # stale: nothing published
        stale = {c.aggregate for c in aggregates.check(conn) if not c.ok}
        # each level is checked against its inputs: the facts' direct aggregates are stale; what derives from them
        # (conditional_kl from comparison_stats) is consistent with its stale inputs
        assert {"comparison_stats", "agg_position_kl"} <= stale
        assert "checkpoint_stats" not in stale  # the checkpoint facts did not change
        aggregates.rebuild(conn)
        assert conn.execute(query).scalar() == pytest.approx(2.0)  # (2.5 + 1.5) / 2
    assert all(c.ok for c in aggregates.check(engine))
    with engine.connect() as conn:
        assert conn.execute(query).scalar() == pytest.approx(2.0)


def test_views_document_themselves_from_their_headers(engine):
    """COMMENT ON VIEW / COLUMN / FUNCTION from each file's header: `\\d+ expected_kl` in psql shows them."""
    header = views.header(views.read("expected_kl"))
    assert header.description.startswith("the study's expected KL between checkpoints")
    assert header.columns["ci_low"].startswith("95% interval") and "sd_kl" in header.columns
    with engine.connect() as conn:
        described = conn.exec_driver_sql(
            "SELECT obj_description('expected_kl'::regclass, 'pg_class'), "
            "col_description('expected_kl'::regclass, (SELECT attnum FROM pg_attribute "
            " WHERE attrelid = 'expected_kl'::regclass AND attname = 'mean_kl'))"
        ).one()
        undocumented = (
            conn.exec_driver_sql(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'v' "
                "AND obj_description(c.oid, 'pg_class') IS NULL"
            )
            .scalars()
            .all()
        )
        functions = conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE obj_description(p.oid, 'pg_proc') IS NULL), count(*) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
        ).one()
    assert described[0] == header.description
    assert described[1] == header.columns["mean_kl"] == "E[KL], nats"
    assert undocumented == []
    assert functions[0] == 0 and functions[1] >= 10

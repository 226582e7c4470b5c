"""The SQL files as replaceable objects (convdiv.warehouse.views): layers, derived order, frozen versions, rebuild,
check."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from convdiv.errors import ConvdivError
from convdiv.testing.warehouses import build_curve_warehouse
from convdiv.warehouse import aggregates, schema, views

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


def test_every_file_is_one_documented_object_in_dependency_order():
    objs = views.objects()
    assert [o.name for o in objs] == views.creation_order()
    layer_of = {o.name: o.layer for o in objs}
    for i, obj in enumerate(objs):
        text = obj.path.read_text()
        assert text.startswith(f"-- {obj.name}"), f"{obj.file}: header comment must start with the name"
        body = views._strip_comments(text)
        used = {n for n in layer_of if n != obj.name and re.search(rf"\b{n}\b", body)}
        # an object only uses objects created before it, of its own layer or a lower one
        assert used <= {o.name for o in objs[:i]}, f"{obj.name} uses later objects"
        higher = [n for n in used if views.LAYERS.index(layer_of[n]) > views.LAYERS.index(obj.layer)]
        assert higher == [], f"{obj.file} uses {higher} of a higher layer"
    # aggregates are tables maintained at publish (migration 0003): nothing needs a REFRESH
    assert [o.name for o in objs if o.kind == "materialized view"] == []


def test_each_live_file_is_its_newest_frozen_version():
    """Editing sql/ without a migration fails here: the live file must be what the newest migration loads."""
    for obj in views.objects():
        revisions = views.frozen_revisions(obj.name)
        assert revisions, f"{obj.file} is frozen by no migration: add a migration that creates it"
        frozen = f"migrations/sql/{obj.name}@{revisions[-1]}.sql"
        same = views.read(obj.name, as_of=revisions[-1]) == obj.path.read_text("utf-8")
        assert same, f"{obj.file} differs from {frozen}: add a migration that freezes the new version"
    assert views.creation_order(as_of=schema.head_revision()) == views.creation_order()
    assert set(views.creation_order(as_of="0002")) < set(views.creation_order())  # 0002 had fewer objects


def test_views_have_the_contract_columns(engine):
    with engine.connect() as conn:
        for view, columns in CONTRACT_VIEWS.items():
            have = set(conn.exec_driver_sql(f"SELECT * FROM {view} LIMIT 0").keys())
            assert set(columns.split()) <= have, (view, set(columns.split()) - have)


def test_read_takes_the_latest_frozen_version_and_never_falls_back(tmp_path):
    live, frozen = tmp_path / "sql", tmp_path / "frozen"
    (live / "views").mkdir(parents=True)
    frozen.mkdir()
    (live / "views" / "thing.sql").write_text("-- thing\nCREATE VIEW thing AS SELECT 3 AS x;\n")
    (frozen / "thing@0002.sql").write_text("-- thing\nCREATE VIEW thing AS SELECT 1 AS x;\n")
    (frozen / "thing@0005.sql").write_text("-- thing\nCREATE VIEW thing AS SELECT 2 AS x;\n")
    for as_of, expected in {"0002": "SELECT 1", "0004": "SELECT 1", "0005": "SELECT 2", "0009": "SELECT 2"}.items():
        assert expected in views.read("thing", as_of=as_of, sql_dir=live, frozen_dir=frozen), as_of
    assert "SELECT 3" in views.read("thing", sql_dir=live, frozen_dir=frozen)  # no revision: the live file
    with pytest.raises(ConvdivError, match=r"no frozen SQL of 'thing' at or before revision 0001"):
        views.read("thing", as_of="0001", sql_dir=live, frozen_dir=frozen)
    with pytest.raises(ConvdivError, match="no SQL file"):
        views.read("other", sql_dir=live)
    (frozen / "thing@next.sql").write_text("CREATE VIEW thing AS SELECT 4 AS x;\n")
    with pytest.raises(ConvdivError, match="four-digit revision"):
        views.read("thing", as_of="0005", sql_dir=live, frozen_dir=frozen)
    (live / "views" / "wrong.sql").write_text("CREATE VIEW right_name AS SELECT 1;\n")
    with pytest.raises(ConvdivError, match="named for another object"):
        views.objects(live)
    (live / "views" / "wrong.sql").unlink()
    (live / "005_thing.sql").write_text("CREATE VIEW thing AS SELECT 1;\n")
    with pytest.raises(ConvdivError, match="sql/<layer>/<object>.sql"):
        views.objects(live)


def test_creation_order_follows_the_files_and_refuses_a_cycle():
    texts = {"b": "CREATE VIEW b AS SELECT * FROM a", "a": "CREATE VIEW a AS SELECT 1 -- not c", "c": "SELECT b, a"}
    assert views.ordered(texts) == ["a", "b", "c"]
    assert views.ordered({"z": "SELECT 1", "y": "SELECT 1"}, {"z": "base", "y": "views"}) == ["z", "y"]
    with pytest.raises(ConvdivError, match=r"cycle among \['a', 'b'\]"):
        views.ordered({"a": "SELECT * FROM b", "b": "SELECT * FROM a"})


def test_replace_recreates_the_object_and_its_dependants(engine):
    build_curve_warehouse(engine)
    with engine.begin() as conn:
        before = conn.execute(sa.text("SELECT * FROM phase_boundaries")).all()
        redone = views.replace(conn, "expected_kl")
        assert redone == [
            "expected_kl",
            "compute_phase_boundaries",
            "phase_boundaries",
            "relative_divergence",
            "divergence_stability",
        ]
        assert conn.execute(sa.text("SELECT * FROM phase_boundaries")).all() == before
        head = schema.head_revision()
        assert views.replace(conn, "expected_kl", as_of=head) == redone  # the same versions: the frozen ones
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

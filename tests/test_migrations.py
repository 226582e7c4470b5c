"""Migrations: empty -> head -> empty -> head, no drift between models and migrations, a comment on everything."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from convdiv.warehouse import schema
from convdiv.warehouse.models import Base


def _tables(engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_roundtrip(empty_db_url):
    engine = sa.create_engine(empty_db_url)
    assert _tables(engine) == set()
    schema.upgrade(engine)
    assert schema.current_revision(engine) == schema.head_revision()
    assert set(Base.metadata.tables) <= _tables(engine)
    schema.downgrade(engine, "base")
    assert _tables(engine) == set()
    assert schema.current_revision(engine) is None
    with engine.connect() as conn:
        views = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
            )
        ).scalar_one()
    assert views == 0, "downgrade to base must drop every view"
    schema.upgrade(engine)  # and back up again
    assert schema.current_revision(engine) == schema.head_revision()
    engine.dispose()


def test_models_match_migrations(engine):
    """The golden-schema check: autogenerate against a migrated database finds nothing to change."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations drifted: {diff}"


def test_every_table_and_column_has_a_comment(engine):
    with engine.connect() as conn:
        missing_tables = (
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version' "
                    "AND obj_description(c.oid, 'pg_class') IS NULL"
                )
            )
            .scalars()
            .all()
        )
        missing_columns = (
            conn.execute(
                sa.text(
                    "SELECT c.relname || '.' || a.attname FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version' "
                    "AND a.attnum > 0 AND NOT a.attisdropped AND col_description(c.oid, a.attnum) IS NULL"
                )
            )
            .scalars()
            .all()
        )
    assert missing_tables == []
    assert missing_columns == []


def test_constraints_are_named_by_convention(engine):
    with engine.connect() as conn:
        names = (
            conn.execute(
                sa.text(
                    "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                    "WHERE n.nspname = 'public' AND conname <> 'alembic_version_pkc'"
                )
            )
            .scalars()
            .all()
        )
    assert names, "no constraints found"
    assert all(name.split("_")[0] in {"pk", "fk", "uq", "ck"} for name in names), names


def test_facts_are_narrow(engine):
    """Facts: float4 values, primary key of two integers, as the design asks."""
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        for table, values in {
            "checkpoint_token": ["ce", "entropy", "kl_uniform", "kl_unigram"],
            "pair_token": ["kl_ab", "kl_ba"],
        }.items():
            cols = {c["name"]: c for c in insp.get_columns(table)}
            for v in values:
                assert isinstance(cols[v]["type"], sa.REAL), (table, v, cols[v]["type"])
            pk = insp.get_pk_constraint(table)["constrained_columns"]
            assert len(pk) == 2 and all(isinstance(cols[c]["type"], sa.Integer) for c in pk)

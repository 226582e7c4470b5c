"""convdiv.warehouse.names: every constant names a view of a migrated warehouse, and every view there has one."""

from __future__ import annotations

import sqlalchemy as sa

from convdiv.warehouse import names

# Views the analytics SQL joins internally; no reader names them, so they have no constant.
BUILDING_BLOCKS = {
    "position_features",
    "checkpoint_info",
    "comparison_info",
    "comparison_group_info",
    "comparison_group_member",
}


def _constants() -> dict[str, str]:
    return {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}


def test_every_constant_is_listed_once_under_its_own_name():
    constants = _constants()
    assert {k.lower(): v for k, v in constants.items()} == {v: v for v in constants.values()}
    assert sorted(names.ANALYST_VIEWS) == sorted(constants.values())
    assert len(set(names.ANALYST_VIEWS)) == len(names.ANALYST_VIEWS)


def test_constants_are_the_views_of_a_migrated_warehouse(engine):
    with engine.connect() as conn:
        found = set(
            conn.execute(
                sa.text(
                    "SELECT viewname FROM pg_views WHERE schemaname = current_schema() "
                    "UNION SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema()"
                )
            ).scalars()
        )
    assert sorted(set(names.ANALYST_VIEWS) - found) == [], "a constant names no view: fix names.py"
    assert sorted(found - set(names.ANALYST_VIEWS) - BUILDING_BLOCKS) == [], "a view has no constant: add it"

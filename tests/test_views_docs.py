"""Every SQL example of docs/sql.md runs on a warehouse with data, and every view it names is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convdiv.testing.warehouses import build_curve_warehouse
from convdiv.warehouse import views

DOC = Path(__file__).resolve().parents[1] / "docs" / "sql.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_there_are_enough_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_query_runs(engine, index):
    """Every documented query runs and finds rows on a warehouse that has the data it asks about: the four-phase
    curve suite plus the report's synthetic suite (POS tags, consecutive steps, token texts ' w1', ...)."""
    from convdiv.testing.synthetic import build_synthetic_warehouse
    from convdiv.warehouse import aggregates

    build_curve_warehouse(engine)
    build_synthetic_warehouse(engine)
    aggregates.rebuild(engine)
    query = EXAMPLES[index].replace("' the'", "' w1'")  # the synthetic vocabulary has no English words
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(query).all()
    assert rows, "the example query returned nothing on a warehouse that has data for it"


def test_every_view_and_aggregate_is_documented():
    text = DOC.read_text()
    missing = [o.name for o in views.objects() if f"`{o.name}" not in text]
    assert missing == []

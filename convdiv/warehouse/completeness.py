"""Are the done units complete? Each done ingest unit's fact rows against what it must hold.

The aggregates' check (:mod:`convdiv.warehouse.aggregates`) compares aggregates with the facts, so a fact row
deleted by hand followed by ``convdiv db rebuild`` leaves nothing for it to find. This check compares the facts with
the ledger instead: every checkpoint (comparison) of a done unit with rows on the corpus holds one row per position,
and the unit holds at least the rows recorded when it was published (``ingest_unit.rows_checkpoint_token``,
``rows_pair_token``: positions x checkpoints / comparisons). The rules are in ``sql/unit_completeness.sql``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from convdiv.warehouse import queries


@dataclass(frozen=True)
class UnitGap:
    """One done unit whose rows in one fact table are not what it must hold."""

    unit_id: int
    unit_key: str
    suite: str
    corpus: str
    fact_table: str
    positions: int
    recorded: int | None
    expected: int
    present: int
    incomplete: str  # the first checkpoints / comparisons without one row per position, 'id: rows'

    def describe(self) -> str:
        what = f"suite {self.suite!r}, corpus {self.corpus!r}, unit {self.unit_key}: {self.fact_table} holds"
        if self.present < self.expected:
            text = f"{what} {self.present:,} rows, {self.expected - self.present:,} missing of {self.expected:,}"
        else:
            text = f"{what} {self.present:,} rows, expected {self.expected:,}"
        if self.incomplete:
            kind = "checkpoint" if self.fact_table == "checkpoint_token" else "comparison"
            text += f" ({kind} id: rows, of {self.positions:,} positions each: {self.incomplete})"
        return text


def check(connection: Connection | Engine, corpus_id: int | None = None) -> list[UnitGap]:
    """The done units whose fact rows differ from what they must hold (read-only; reads every fact once)."""
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            return check(conn, corpus_id)
    rows = connection.exec_driver_sql(queries.WAREHOUSE["unit_completeness"], {"corpus_id": corpus_id}).fetchall()
    return [UnitGap(*row) for row in rows]

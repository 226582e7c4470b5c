"""`convdiv db status`: what is in the warehouse, read from the catalog (cheap: no full scans)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from convdiv.warehouse import schema
from convdiv.warehouse.engine import mask_url
from convdiv.warehouse.models import Base


@dataclass
class Status:
    url: str
    server_version: str
    current: str | None
    head: str
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def to_dict(self) -> dict:
        """The `db status --json` object."""
        return {"url": self.url, "server_version": self.server_version, "current": self.current, "head": self.head,
                "up_to_date": self.up_to_date, "row_counts": dict(self.row_counts)}


def collect(engine: Engine) -> Status:
    st = schema.state(engine)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        existing = set(sa.inspect(conn).get_table_names())
        counts = {}
        for name in Base.metadata.tables:
            if name in existing:
                counts[name] = conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
    return Status(url=mask_url(engine.url), server_version=version, current=st.current, head=st.head, row_counts=counts)

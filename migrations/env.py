"""Alembic environment: convdiv passes its engine in ``config.attributes['engine']``.

Run through `convdiv db upgrade`. The bare `alembic` CLI works too when DATABASE_URL is set.
"""

from __future__ import annotations

from alembic import context

from convdiv.config import Settings
from convdiv.warehouse.engine import get_engine
from convdiv.warehouse.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or get_engine(Settings.from_env())
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            transaction_per_migration=False,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("convdiv migrations run online only: use `convdiv db upgrade`")
run_migrations_online()

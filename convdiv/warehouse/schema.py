"""Schema versioning through Alembic: upgrade, report, and refuse to work on a stale schema.

Migrations live in the repository's top-level ``migrations/`` (the user asked for that layout), with the frozen SQL
they load in ``migrations/sql/<name>@<revision>.sql``; the live SQL of the analysis views lives in ``sql/<layer>/``
(convdiv.warehouse.views says how the two relate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from convdiv.errors import StaleSchemaError

# Inside the package, so a wheel ships them (in the repository these are links to the top-level migrations/ and
# sql/ the user asked for: one copy of each file, browsable at the top and installed with the package).
PACKAGE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
SQL_DIR = PACKAGE_DIR / "analytics"
FROZEN_DIR = MIGRATIONS_DIR / "sql"  # every version a migration loads, pinned in RELEASED.sha256


def alembic_config(engine: Engine | None = None) -> Config:
    # no alembic.ini needed (an installed package has none): the one setting convdiv uses is given here; the
    # repository's alembic.ini serves the bare `alembic` command
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def state(engine: Engine) -> SchemaState:
    return SchemaState(current=current_revision(engine), head=head_revision())


def require_current(engine: Engine) -> None:
    """Refuse to run on a schema that is not at head, and say which command fixes it."""
    s = state(engine)
    if s.up_to_date:
        return
    if s.current is None:
        raise StaleSchemaError("the warehouse has no convdiv schema yet; run `convdiv db upgrade`")
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if s.current not in known:
        raise StaleSchemaError(
            f"the warehouse schema ({s.current}) is newer than this convdiv (head {s.head}); upgrade convdiv"
        )
    raise StaleSchemaError(
        f"the warehouse schema is at {s.current}, this convdiv needs {s.head}; run `convdiv db upgrade`"
    )

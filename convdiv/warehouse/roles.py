"""Access roles: a read-only analyst role that can SELECT every table and view and write nothing.

`convdiv db grant-analyst ROLE` creates the role when it does not exist, as a NOLOGIN *group* role by default: a
DBA grants it to people's login roles (``GRANT analyst TO alice``), so passwords stay with the DBA's usual tooling.
``login=True`` creates it as a LOGIN role instead (set its password with ``ALTER ROLE ... PASSWORD``).

What the role gets, in the warehouse's database and schema:
- CONNECT on the database, USAGE on the schema, SELECT on every table, view and materialised view in it;
- SELECT on objects the granting user creates later (ALTER DEFAULT PRIVILEGES), so new views of later migrations
  are readable without granting again;
- nothing else: INSERT/UPDATE/DELETE/TRUNCATE are revoked (in case an existing role had them) and CREATE on the
  schema is revoked; the function refuses a superuser role, which no grant can restrict. Sessions that log in as
  the role also start read-only (default_transaction_read_only). Temporary tables stay possible for everyone who
  has the database's default TEMP privilege; they vanish with the session and touch no warehouse data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from convdiv.errors import ConvdivError

_ROLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


@dataclass
class GrantResult:
    role: str
    created: bool
    login: bool
    database: str
    schema: str
    warnings: list[str] = field(default_factory=list)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_analyst(engine: Engine, role: str, *, login: bool = False) -> GrantResult:
    """Create ``role`` if needed and make it read-only on the warehouse (see the module docstring)."""
    if not _ROLE_NAME.match(role):
        raise ConvdivError(f"invalid role name {role!r}: use letters, digits and underscores (at most 63)")
    q = _quote(role)
    try:
        with engine.begin() as conn:
            database, schema, me = conn.execute(
                sa.text("SELECT current_database(), current_schema(), current_user")
            ).one()
            if role == me:
                raise ConvdivError(f"role {role!r} is the user convdiv connects as; choose another analyst role")
            existing = conn.execute(
                sa.text("SELECT rolsuper, rolcanlogin FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).one_or_none()
            if existing is not None and existing.rolsuper:
                raise ConvdivError(f"role {role!r} is a superuser and cannot be made read-only")
            if existing is None:
                conn.exec_driver_sql(f"CREATE ROLE {q} {'LOGIN' if login else 'NOLOGIN'}")
            elif login and not existing.rolcanlogin:
                conn.exec_driver_sql(f"ALTER ROLE {q} LOGIN")
            qs = _quote(schema)
            conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {_quote(database)} TO {q}")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {qs} TO {q}")
            conn.exec_driver_sql(f"REVOKE CREATE ON SCHEMA {qs} FROM {q}")
            conn.exec_driver_sql(
                f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {qs} FROM {q}"
            )
            conn.exec_driver_sql(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {qs} FROM {q}")
            # ALL TABLES covers tables, views and materialised views
            conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {qs} TO {q}")
            conn.exec_driver_sql(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {qs} GRANT SELECT ON TABLES TO {q}")
            conn.exec_driver_sql(f"ALTER ROLE {q} IN DATABASE {_quote(database)} SET default_transaction_read_only = on")
            warnings = []
            can_create = conn.execute(
                sa.text("SELECT has_schema_privilege(:r, :s, 'CREATE')"), {"r": role, "s": schema}
            ).scalar_one()
            if can_create:
                # granted to PUBLIC (PostgreSQL < 15 default) or through another role: not ours to revoke silently
                warnings.append(
                    f"{role} can still CREATE in schema {schema} through PUBLIC or another role; "
                    f"run REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC"
                )
    except sa.exc.DBAPIError as exc:
        raise ConvdivError(f"cannot grant analyst role {role!r}: {exc.orig}") from exc
    return GrantResult(role, existing is None, login or bool(existing and existing.rolcanlogin), database, schema,
                       warnings)

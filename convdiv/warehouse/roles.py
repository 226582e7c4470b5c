"""Access roles: a read-only analyst role that can SELECT every table and view and write nothing.

`convdiv db grant-analyst ROLE` creates the role when it does not exist, as a NOLOGIN *group* role by default: a
DBA grants it to people's login roles (``GRANT analyst TO alice``), so passwords stay with the DBA's usual tooling.
``login=True`` creates it as a LOGIN role instead (set its password with ``ALTER ROLE ... PASSWORD``).

What the role gets, in the warehouse's database and schema:
- CONNECT on the database, USAGE on the schema, SELECT on every table, view and materialised view in it;
- SELECT on objects the granting user creates later (ALTER DEFAULT PRIVILEGES), so new views of later migrations
  are readable without granting again;
- nothing else: INSERT/UPDATE/DELETE/TRUNCATE/REFERENCES/TRIGGER (and column grants) are revoked in case an
  existing role had them, and CREATE on the schema is revoked.

Read-only by privileges alone: after granting, and in the same transaction, the command lists every way the role
could still write, create or own objects in the warehouse (``sql/analyst_write_paths.sql``): its own attributes
(SUPERUSER, CREATEROLE, which could grant itself pg_write_all_data, BYPASSRLS, REPLICATION), every role it is a
member of, directly or through other roles and whether or not it inherits (a member can SET ROLE), predefined
writer roles (pg_write_all_data, ...), ownership of the database, schema or any object in it, write privileges on
any table, view, column or sequence, CREATE on the schema or database, and SECURITY DEFINER functions it can run;
PUBLIC's grants count too. Any path refuses the role (one line with the path and the statement that removes it)
and rolls everything back, a new role included. Sessions that log in as the role also start read-only
(default_transaction_read_only), a convenience a session can switch off, not a protection. What PUBLIC holds in
every database is closed too (docs/operations.md lists each path): EXECUTE on the large-object and WAL-message
functions (WRITE_FUNCTIONS) is revoked from PUBLIC, TEMPORARY on the database is revoked from PUBLIC after being
granted to the warehouse's writers, and the role's temporary files are bounded (temp_file_limit; a warning when
that needs a superuser). Memberships granted to the role later are not watched: re-run the command to check again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine

from convdiv.errors import ConvdivError, database_error
from convdiv.warehouse import queries
from convdiv.warehouse.engine import psycopg_connection

Q = queries.WAREHOUSE  # roles.sql

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


def _ident(name: str) -> str:
    """``name`` as it reads in a statement a user copies: bare when that is unambiguous, else quoted."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else _quote(name)


def grant_analyst(engine: Engine, role: str, *, login: bool = False) -> GrantResult:
    """Create ``role`` if needed and make it read-only on the warehouse (see the module docstring)."""
    if not _ROLE_NAME.match(role):
        raise ConvdivError(f"invalid role name {role!r}: use letters, digits and underscores (at most 63)")
    try:
        with engine.begin() as conn:
            database, schema, me = conn.exec_driver_sql(Q["grant_session"]).one()
            if role == me:
                raise ConvdivError(f"role {role!r} is the user convdiv connects as; choose another analyst role")
            existing = conn.exec_driver_sql(Q["role_attributes"], {"role": role}).one_or_none()
            if existing is not None and existing.rolsuper:  # no grant restricts a superuser: say so before anything
                raise ConvdivError(f"role {role!r} is a superuser and cannot be made read-only; choose another role")
            names: dict[str, sql.Composable] = {
                "role": sql.Identifier(role),
                "database": sql.Identifier(database),
                "schema": sql.Identifier(schema),
            }
            if existing is None:
                _ddl(conn, "create_role", **names, login=sql.SQL("LOGIN" if login else "NOLOGIN"))
            elif login and not existing.rolcanlogin:
                _ddl(conn, "allow_login", **names)
            for statement in READ_ONLY_STATEMENTS:
                _ddl(conn, statement, **names)
            warnings = _close_server_write_paths(conn, names, role, database)
            _refuse_write_paths(conn, role, schema)
    except sa.exc.DBAPIError as exc:
        error = database_error(exc)
        raise ConvdivError(f"cannot grant analyst role {role!r}: {error}") from None
    return GrantResult(
        role, existing is None, login or bool(existing and existing.rolcanlogin), database, schema, warnings
    )


# roles.sql's statements that make the role read-only on the warehouse's database and schema, in this order.
READ_ONLY_STATEMENTS = (
    "grant_connect",
    "grant_usage",
    "revoke_create",
    "revoke_table_writes",
    "revoke_sequences",
    "grant_select",
    "grant_select_later",
    "read_only_sessions",
)


def _ddl(conn, name: str, **fields: sql.Composable) -> None:
    """Run roles.sql's DDL template ``name`` (no parameters in DDL: its {fields} composed by psycopg.sql)."""
    conn.exec_driver_sql(sql.SQL(Q[name]).format(**fields).as_string(psycopg_connection(conn)))


# Server-side functions every role may run by default that write outside the warehouse's tables: large objects
# (each one a file's worth of disk, owned by its creator; lo_import reads server files too) and WAL messages
# (pg_logical_emit_message, which PostgreSQL 15 lets any role call). grant-analyst revokes them from PUBLIC in the
# warehouse's database; convdiv itself uses none of them.
WRITE_FUNCTIONS = (
    "lo_create",
    "lo_creat",
    "lo_from_bytea",
    "lo_import",
    "lo_put",
    "lowrite",
    "lo_truncate",
    "lo_truncate64",
    "lo_unlink",
    "pg_logical_emit_message",
)
# What one analyst query may spill to temporary files (sorts, hashes); a loader's publish is not bounded by it.
TEMP_FILE_LIMIT = "5GB"


def _close_server_write_paths(conn, names: dict[str, sql.Composable], role: str, database: str) -> list[str]:
    """Close the write paths that PUBLIC holds in every database (docs/operations.md lists them): the functions
    of WRITE_FUNCTIONS and TEMPORARY on the database (granted first to the warehouse's writers, so they keep what they
    had); bound the role's temporary files. ``names``: the role, database and schema as identifiers. Returns
    warnings for what needs a superuser here; a path left open is refused by :func:`_refuse_write_paths` afterwards."""
    for (procedure,) in conn.exec_driver_sql(Q["write_functions"], {"names": list(WRITE_FUNCTIONS)}).all():
        _ddl(conn, "revoke_function", function=sql.SQL(procedure))  # regprocedure text: quoted by the server
    me = conn.exec_driver_sql(Q["granting_user"]).scalar()
    writers = [me, *conn.exec_driver_sql(Q["analyst_writers"], {"role": role}).scalars()]
    for writer in dict.fromkeys(writers):
        _ddl(conn, "grant_temporary", database=names["database"], writer=sql.Identifier(writer))
    _ddl(conn, "revoke_public_temporary", **names)
    warnings = []
    nested = conn.begin_nested()
    try:
        _ddl(conn, "bound_temp_files", **names, limit=sql.Literal(TEMP_FILE_LIMIT))
        nested.commit()
    except sa.exc.DBAPIError:  # a superuser-only setting: say what a superuser should run
        nested.rollback()
        warnings.append(
            f"temporary files of {role!r}'s queries are not bounded (setting temp_file_limit needs a superuser): "
            f"ALTER ROLE {_ident(role)} IN DATABASE {_quote(database)} SET temp_file_limit = '{TEMP_FILE_LIMIT}'"
        )
    return warnings


def _refuse_write_paths(conn, role: str, schema: str) -> None:
    """Raise (rolling the grant back) when ``role`` could still write by privileges alone; see the module doc."""
    rows = conn.exec_driver_sql(
        Q["analyst_write_paths"],
        {"role": role, "schema": schema, "write_functions": list(WRITE_FUNCTIONS)},
    ).all()
    if not rows:
        return
    # has_*_privilege counts what a role inherits and what PUBLIC holds: a capability of the role itself that a
    # membership or PUBLIC explains is reported there, where revoking it helps.
    explained = {r.reason for r in rows if r.member_of is not None or r.via == "PUBLIC"}
    rows = [r for r in rows if r.member_of is not None or r.via == "PUBLIC" or r.reason not in explained]
    # The role's own attributes first, then memberships (the role that holds a capability itself, i.e. the one
    # furthest along its path, before the roles that only inherit it), then PUBLIC, then the role's own grants.
    rows.sort(
        key=lambda r: (
            (1, -r.via.count(" -> ") - ("(via" in r.via))
            if r.member_of is not None
            else (2, 0)
            if r.via == "PUBLIC"
            else (0, 0)
            if r.reason.startswith(("has ", "is ", "owns "))
            else (3, 0)
        )
    )
    # A path through a membership is cut by revoking that membership, whatever the member role can do.
    fixes = [f"REVOKE {_ident(r.member_of)} FROM {_ident(role)}" if r.member_of is not None else r.fix for r in rows]
    via, reason, fix = rows[0].via, rows[0].reason, fixes[0]
    more = len(set(fixes)) - 1
    raise ConvdivError(
        f"role {role!r} cannot be made read-only: {via} {reason}; fix: {fix}"
        + (
            f" (and {more} more way{'s' if more > 1 else ''} to write; run the command again after fixing)"
            if more > 0
            else ""
        )
    )

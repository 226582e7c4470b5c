"""Which PostgreSQL convdiv talks to, and one engine for it.

``DATABASE_URL`` (or ``--database-url``) selects any PostgreSQL >= 15; without it the embedded server starts
(see ``embedded.py``). Every URL is normalised to the psycopg 3 driver.
"""

from __future__ import annotations

import getpass
import os
import re
from functools import lru_cache

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from convdiv.config import Settings
from convdiv.errors import ConvdivError, database_error, note_connection, url_option

MIN_SERVER_VERSION = 150000


def _url_error(what: str) -> ConvdivError:
    return ConvdivError(f"{url_option()} {what}; the URL is not shown because it may hold a password")


_ENCODE_HINT = "percent-encode them in the password or user (@ -> %40, / -> %2F, : -> %3A, # -> %23, % -> %25)"


def parse_database_url(raw: str) -> URL:
    """``raw`` read the way libpq reads it (psycopg's conninfo parser), as a SQLAlchemy URL for psycopg 3.

    Accepts ``postgresql://`` and ``postgres://`` URLs (with or without a ``+driver``) and libpq's
    ``key=value`` strings. A URL whose password holds an unencoded ``@`` or ``/`` is refused: libpq would read the
    rest of the password as host or database name and print it in its errors. No error shows any part of the URL
    that might hold the password.
    """
    from psycopg.conninfo import conninfo_to_dict

    from convdiv.errors import register_public, register_secret

    raw = raw.strip()
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*)://", raw)
    if scheme:
        backend = scheme.group(1).split("+", 1)[0].lower()
        if backend not in ("postgresql", "postgres"):
            raise ConvdivError(f"{url_option()} must point at PostgreSQL (postgresql://...), got {backend!r}")
        rest = raw[scheme.end() :]
        # libpq: user info ends at the first '@' unless a '/' comes first; the host part ends at '/' or '?'.
        cut = re.search(r"[@/]", rest)
        after_user = rest[cut.end() :] if cut and cut.group() == "@" else rest
        if "@" in re.split(r"\?", after_user, maxsplit=1)[0]:
            raise _url_error(f"has an '@' after its host: the password or user contains '@' or '/'; {_ENCODE_HINT}")
        libpq_text = "postgresql://" + rest
    elif "=" in raw:
        libpq_text = raw
    else:
        raise _url_error("is not a PostgreSQL URL: expected postgresql://USER:PASSWORD@HOST:PORT/DBNAME")
    try:
        parsed = conninfo_to_dict(libpq_text)
    except psycopg.ProgrammingError as exc:  # its message quotes the offending token (the password?)
        reason = re.sub(r'"[^"]*"', "...", " ".join(str(exc).split()))
        if "percent" in reason:
            raise _url_error(f"has an invalid percent-encoding (a literal % is written %25): {reason}") from None
        raise _url_error(f"is not a valid PostgreSQL URL ({reason}); {_ENCODE_HINT}") from None
    params = {k: str(v) for k, v in parsed.items() if v is not None}
    password = params.pop("password", None)
    register_secret(password)
    register_public(params.get("user"), params.get("dbname"), params.get("host"))
    port = params.pop("port", None)
    if port is not None and not all(p.strip().isdigit() for p in port.split(",")):
        raise _url_error(f"has a port that is not a number (a ':' or '/' in the password?); {_ENCODE_HINT}")
    host = params.pop("host", None)
    # A socket directory or several hosts go to the driver as libpq's own host/port parameters.
    in_query = host is not None and (host.startswith("/") or "," in host) or (port is not None and "," in port)
    if in_query:
        params.update({"host": host} if host else {})
        params.update({"port": port} if port else {})
    return URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=password,
        host=None if in_query else host,
        port=None if in_query or port is None else int(port),
        database=params.pop("dbname", None),
        query=params,
    )


def normalise_url(url: str) -> URL:
    """Kept for callers of the old name: :func:`parse_database_url`."""
    return parse_database_url(url)


def libpq_conninfo(url: URL) -> str:
    """A libpq ``key=value`` connection string for ``url`` (quoted by psycopg, so any password survives)."""
    from psycopg.conninfo import make_conninfo

    params = {
        "user": url.username,
        "password": url.password,
        "host": url.host,
        "port": url.port,
        "dbname": url.database,
    }
    params.update({k: v if isinstance(v, str) else ",".join(v) for k, v in url.query.items()})
    return make_conninfo("", **{k: str(v) for k, v in params.items() if v is not None})


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by *** (and any ``*password*`` query parameter hidden)."""
    try:
        parsed = parse_database_url(url) if isinstance(url, str) else url
    except ConvdivError:
        return f"<{url_option()} not shown: it does not parse>"
    hidden = {k: "***" for k in parsed.query if "password" in k.lower()}
    return parsed.update_query_dict(hidden).render_as_string(hide_password=True)


def describe_host(url: URL) -> str:
    if url.host:
        return f"{url.host}:{url.port or 5432}"
    host = url.query.get("host")
    if host and not str(host).startswith("/"):
        return f"{host}:{url.query.get('port', 5432)}"
    return f"socket {host or '(default)'}"


def resolve_url(settings: Settings) -> URL:
    """The warehouse URL: DATABASE_URL if set, else the embedded server (started on demand)."""
    if settings.database_url:
        return parse_database_url(settings.database_url)
    from convdiv.warehouse import embedded

    return parse_database_url(embedded.start(settings.pgdata))


# A server that accepts and never answers (another service on the port, a hung host) fails the connection after
# this many seconds; `connect_timeout` in the URL, or libpq's PGCONNECT_TIMEOUT, is honoured instead.
DEFAULT_CONNECT_TIMEOUT_S = 10


def connect_timeout_s(url: URL) -> float:
    """The connect timeout in force for ``url`` (0: none, as libpq reads it)."""
    given = url.query.get("connect_timeout") or os.environ.get("PGCONNECT_TIMEOUT")
    try:
        return float(given) if given is not None else DEFAULT_CONNECT_TIMEOUT_S  # type: ignore[arg-type]
    except ValueError:
        return DEFAULT_CONNECT_TIMEOUT_S


def _connect_args(url: URL) -> dict:
    if "connect_timeout" in url.query or os.environ.get("PGCONNECT_TIMEOUT"):
        return {}
    return {"connect_timeout": DEFAULT_CONNECT_TIMEOUT_S}


@lru_cache(maxsize=8)
def _engine_for(url: URL) -> Engine:
    # The URL object itself, never its rendering: SQLAlchemy does not percent-encode every character libpq needs.
    return sa.create_engine(url, pool_pre_ping=True, future=True, connect_args=_connect_args(url))


def get_engine(settings: Settings) -> Engine:
    """An engine on the warehouse after checking the server is reachable and new enough."""
    url = resolve_url(settings)
    engine = _engine_for(url)
    check_server(engine)
    return engine


def open_engine(url: str | URL) -> Engine:
    """A new engine of its own on ``url`` (the caller disposes it), checked like ``get_engine``'s."""
    parsed = parse_database_url(url) if isinstance(url, str) else url
    engine = sa.create_engine(parsed, pool_pre_ping=True, connect_args=_connect_args(parsed))
    try:
        check_server(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_server(engine: Engine) -> None:
    """Raise a one-line ConvdivError when the server cannot be reached or is older than PostgreSQL 15."""
    url = engine.url
    try:
        with engine.connect() as conn:
            version = conn.connection.dbapi_connection.info.server_version  # type: ignore[union-attr]
    except sa.exc.OperationalError as exc:
        if isinstance(exc.orig, psycopg.errors.ConnectionTimeout):
            raise ConvdivError(
                f"PostgreSQL at {describe_host(url)} ({mask_url(url)}) did not answer within "
                f"{connect_timeout_s(url):g} s (connect_timeout): check that it is a PostgreSQL server and "
                f"reachable, or raise connect_timeout in {url_option()} (e.g. ?connect_timeout=30)"
            ) from None
        reason = database_error(exc, connecting=True)
        raise ConvdivError(
            f"cannot connect to PostgreSQL at {describe_host(url)} ({mask_url(url)}): {reason}"
        ) from None
    note_connection(url.username or os.environ.get("PGUSER") or getpass.getuser(), describe_host(url))
    if version < MIN_SERVER_VERSION:
        raise ConvdivError(f"PostgreSQL at {describe_host(url)} is version {version}; convdiv needs >= 15")


def libpq_url(url: URL) -> str:
    """``url`` as a plain libpq URL (``postgresql://``, no SQLAlchemy driver; password masked) to show users of
    psql, psycopg and DuckDB. Connect with ``libpq_conninfo``, which keeps any password intact."""
    return mask_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def psql_command(url: URL) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run psql on ``url`` (password passed via PGPASSWORD, never on the command line)."""
    env: dict[str, str] = {}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    argv = ["psql", "-d", url.database or "postgres", "-U", url.username or "postgres"]
    if host:
        argv += ["-h", str(host)]
    if url.port:
        argv += ["-p", str(url.port)]
    return argv, env


def psycopg_connection(conn) -> psycopg.Connection:
    """The psycopg connection of a SQLAlchemy connection (same transaction), or ``conn`` itself when it is one: for
    COPY and DDL built with psycopg.sql inside a SQLAlchemy transaction."""
    if isinstance(conn, psycopg.Connection):
        return conn
    return conn.connection.driver_connection

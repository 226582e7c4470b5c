"""Which PostgreSQL convdiv talks to, and one engine for it.

``DATABASE_URL`` (or ``--database-url``) selects any PostgreSQL >= 15; without it the embedded server starts
(see ``embedded.py``). Every URL is normalised to the psycopg 3 driver.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from convdiv.config import Settings
from convdiv.errors import ConvdivError

MIN_SERVER_VERSION = 150000


def normalise_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConvdivError(f"DATABASE_URL is not a valid database URL: {mask_url(url)}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise ConvdivError(f"DATABASE_URL must point at PostgreSQL, got {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql+psycopg")


def mask_url(url: str | URL) -> str:
    """The URL with any password replaced by ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except Exception:
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


def describe_host(url: URL) -> str:
    if url.host:
        return f"{url.host}:{url.port or 5432}"
    return f"socket {url.query.get('host', '(default)')}"


def resolve_url(settings: Settings) -> URL:
    """The warehouse URL: DATABASE_URL if set, else the embedded server (started on demand)."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    from convdiv.warehouse import embedded

    return normalise_url(embedded.start(settings.pgdata))


@lru_cache(maxsize=8)
def _engine_for(url_string: str) -> Engine:
    return sa.create_engine(url_string, pool_pre_ping=True, future=True)


def get_engine(settings: Settings) -> Engine:
    """An engine on the warehouse after checking the server is reachable and new enough."""
    url = resolve_url(settings)
    engine = _engine_for(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            version = conn.connection.dbapi_connection.info.server_version  # type: ignore[union-attr]
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[-1] if exc.orig else str(exc)
        raise ConvdivError(
            f"cannot connect to PostgreSQL at {describe_host(url)} ({mask_url(url)}): {reason}"
        ) from None
    if version < MIN_SERVER_VERSION:
        raise ConvdivError(f"PostgreSQL at {describe_host(url)} is version {version}; convdiv needs >= 15")
    return engine


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

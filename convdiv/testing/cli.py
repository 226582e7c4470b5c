"""The real `convdiv` command run as a user runs it (a subprocess of the installed entry point), and the one error
line a failed command must print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The installed entry point next to the running interpreter, so subprocess tests run what a user runs.
CONVDIV = str(Path(sys.executable).with_name("convdiv"))
# The same command as `python -m convdiv` (what the API and serve tests start).
CONVDIV_MODULE = [sys.executable, "-m", "convdiv"]


def convdiv(
    *args: str, database_url: str, data_dir: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``convdiv ARGS`` against `database_url` with its own data dir (extra `env` on top of this process's)."""
    full_env = {**os.environ, "DATABASE_URL": database_url, "CONVDIV_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run([CONVDIV, *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def run_convdiv(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    """``convdiv ARGS`` in exactly `env`; with `check`, a non-zero exit raises AssertionError carrying its stderr."""
    proc = subprocess.run([CONVDIV, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"convdiv {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def run_cli(args, db_url: str | None, *, data_dir: Path | None = None, timeout: float = 300, **kw):
    """``python -m convdiv ARGS`` with stdin/stdout/stderr not terminals (as in a batch log), DATABASE_URL set to
    `db_url` or removed (then the embedded server is the default), the data dir `data_dir` if given, and any
    ``env=`` entries on top."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONVDIV_TEST_SERVER"}}
    if db_url:
        env["DATABASE_URL"] = db_url
    if data_dir:
        env["CONVDIV_DATA_DIR"] = str(data_dir)
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [*CONVDIV_MODULE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr; AssertionError unless the command failed with exactly one
    ``convdiv: error:`` line and no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 0:
        raise AssertionError(f"expected a failure, got exit 0: {proc.stdout}")
    if "Traceback" in proc.stderr or len(lines) != 1 or not lines[0].startswith("convdiv: error:"):
        raise AssertionError(f"expected one 'convdiv: error:' line on stderr, got:\n{proc.stderr}")
    return lines[0]

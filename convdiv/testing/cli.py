"""The real `convdiv` command run as a user runs it (a subprocess of the installed entry point), and the one error
line a failed command must print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The installed entry point next to the running interpreter, so subprocess tests run what a user runs.
CONVDIV = str(Path(sys.executable).with_name("convdiv"))


def convdiv(*args: str, database_url: str, data_dir: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``convdiv ARGS`` against `database_url` with its own data dir (extra `env` on top of this process's)."""
    full_env = {**os.environ, "DATABASE_URL": database_url, "CONVDIV_DATA_DIR": str(data_dir), **(env or {})}
    return subprocess.run([CONVDIV, *args], env=full_env, capture_output=True, text=True, timeout=timeout)


def run_convdiv(args: list[str], env: dict, check: bool = True) -> subprocess.CompletedProcess:
    """``convdiv ARGS`` in exactly `env`; with `check`, a non-zero exit raises AssertionError carrying its stderr."""
    proc = subprocess.run([CONVDIV, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"convdiv {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single line a failed command printed on stderr; AssertionError unless the command failed with exactly one
    ``convdiv: error:`` line and no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode == 0:
        raise AssertionError(f"expected a failure, got exit 0: {proc.stdout}")
    if "Traceback" in proc.stderr or len(lines) != 1 or not lines[0].startswith("convdiv: error:"):
        raise AssertionError(f"expected one 'convdiv: error:' line on stderr, got:\n{proc.stderr}")
    return lines[0]

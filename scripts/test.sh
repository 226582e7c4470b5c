#!/usr/bin/env bash
# The whole test suite, from a fresh machine: virtual environment, Chromium for the browser test, then pytest
# against the machine's PostgreSQL (127.0.0.1:5432, user postgres, or DATABASE_URL if set). The embedded
# server is exercised by tests/test_embedded.py, which unsets DATABASE_URL for its subprocesses.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash "$ROOT/scripts/bootstrap.sh" test

# System packages the tests use: Debian's chromium (browser test of the report) and docker-compose (validates
# docker-compose.yml offline; no engine needed).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null || (command -v docker >/dev/null && docker compose version >/dev/null 2>&1) \
  || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  echo "convdiv: installing ${missing[*]} (apt)" >&2
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || echo "convdiv: could not install ${missing[*]}; the tests that need them will fail" >&2
fi

VENV="${CONVDIV_VENV:-$ROOT/.venv}"
# The habits of a maintained project: lint, format and types first (configured in pyproject.toml), then the tests.
echo "convdiv: ruff check, ruff format --check, mypy" >&2
"$VENV/bin/ruff" check --quiet .
"$VENV/bin/ruff" format --check --quiet .
"$VENV/bin/python" -m mypy

export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
# Two workers (pytest-xdist; CONVDIV_TEST_WORKERS=0 runs in this process): every test has its own database and
# temporary folders, so they share nothing; on 2 cores the suite took 8.6 min instead of 14-22 min serially.
# pytest exits 5 when it collects no tests; set -e turns that into a failure too.
# --durations: the slowest tests in the log, to keep the suite inside CI's 15-minute budget.
exec "$VENV/bin/python" -m pytest -q -n "${CONVDIV_TEST_WORKERS:-2}" --durations=25 "$@"

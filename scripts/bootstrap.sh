#!/usr/bin/env bash
# Create or update the project's virtual environment with everything convdiv needs.
# Sourced by scripts/demo.sh and scripts/test.sh; usable alone: `bash scripts/bootstrap.sh [test]`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONVDIV_VENV:-$ROOT/.venv}"
EXTRA="${1:-spacy-model}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if ! "$PY" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null; then
  echo "convdiv: needs Python 3.11 or 3.12; $PY is $("$PY" -V 2>&1) (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "convdiv: creating virtual environment $VENV" >&2
  "$PY" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: pip then takes the CPU build (local wheel or PyPI) and pyproject's range is satisfied,
# so nothing pulls a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/pip" install -q "torch==2.13.0"
fi
"$VENV/bin/pip" install -q -e "$ROOT[$EXTRA]"

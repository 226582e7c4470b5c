#!/usr/bin/env bash
# The main job, end to end on the embedded defaults: trains the demo suite (cached), loads the held-out novel as
# a corpus, ingests every checkpoint, writes the HTML report and prints its path.
# Uses DATABASE_URL when set, else convdiv's embedded PostgreSQL. Extra arguments go to `convdiv demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" spacy-model
exec "${CONVDIV_VENV:-$ROOT/.venv}/bin/convdiv" demo "$@"

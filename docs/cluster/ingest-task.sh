#!/usr/bin/env bash
# One convdiv ingest worker: what every Slurm array task and every Kubernetes Indexed Job pod runs.
#
# Every task runs the same command against the shared warehouse (DATABASE_URL); the ingest ledger in that database
# gives each unit of work (one model size at one step) to exactly one worker, so tasks need no coordination and a
# task that dies leaves its units claimable by the others. Each task has its own Hugging Face Hub cache and data
# dir on node-local scratch, evicting each checkpoint once every unit needing it is done, so the disk each task
# needs stays at about two work groups of weights.
#
# Environment (all optional except DATABASE_URL):
#   DATABASE_URL     the shared PostgreSQL warehouse (schema created once with `convdiv db upgrade`)
#   SUITE, CORPUS    what to ingest [pythia, pile-sample]
#   INGEST_ARGS      more `convdiv ingest` options, e.g. "--sizes 14m,70m --dtype bfloat16"
#   CACHE_POLICY     keep | evict [evict]
#   CONVDIV_SCRATCH  node-local scratch for the task's Hub cache and data dir [$TMPDIR or /tmp]
#   HF_HUB_CACHE, CONVDIV_DATA_DIR   override the per-task folders
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the shared warehouse, e.g. postgresql://convdiv:PASSWORD@db-host:5432/convdiv}"
task="${SLURM_ARRAY_TASK_ID:-${JOB_COMPLETION_INDEX:-0}}"
scratch="${CONVDIV_SCRATCH:-${TMPDIR:-/tmp}}/convdiv-task-${task}"
export HF_HUB_CACHE="${HF_HUB_CACHE:-${scratch}/hub}"
export CONVDIV_DATA_DIR="${CONVDIV_DATA_DIR:-${scratch}/data}"
mkdir -p "${HF_HUB_CACHE}" "${CONVDIV_DATA_DIR}"
echo "convdiv task ${task} on $(hostname): Hub cache ${HF_HUB_CACHE}"
# shellcheck disable=SC2086  # INGEST_ARGS is a list of options
exec convdiv ingest "${SUITE:-pythia}" --corpus "${CORPUS:-pile-sample}" --no-progress \
    --cache-policy "${CACHE_POLICY:-evict}" ${INGEST_ARGS:-}

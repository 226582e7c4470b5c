"""`convdiv ingest`: a thin wrapper over ``convdiv.ingest.run.run``; its options are the fields of one
``convdiv.ingest.request.IngestRequest``."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from convdiv.bounds import MAX_BATCH_TOKENS, MAX_CONTEXT_LENGTH, MAX_MEMORY_GB, MAX_SECONDS, MAX_WORKERS, Number
from convdiv.context import Context, pass_context
from convdiv.ingest.request import IngestRequest

LIST_HELP = "comma-separated; default: all of the suite's"


@click.command("ingest")
@click.argument("suite")
@click.option("--corpus", required=True, help="Corpus name (see `convdiv corpus list`).")
@click.option(
    "--name",
    default=None,
    help="The name the suite is stored under [default: its own name]; one name holds one suite folder or "
    "hub repository, so a second suite with a taken name needs its own.",
)
@click.option("--sizes", multiple=True, help=f"Model sizes, {LIST_HELP}.")
@click.option("--seeds", multiple=True, help=f"Seeds, {LIST_HELP}.")
@click.option("--steps", multiple=True, help=f"Training steps, {LIST_HELP}.")
@click.option(
    "--comparisons",
    default="seed_pairs,consecutive_steps",
    help="Comma-separated: seed_pairs, consecutive_steps, cross_size.",
)
@click.option("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    default="auto",
    help="Forward-pass dtype (auto: float32 on CPU, bfloat16 on CUDA); reductions are float32/64.",
)
@click.option(
    "--batch-tokens",
    type=Number(1, MAX_BATCH_TOKENS, whole=True),
    default=None,
    help="Tokens per forward batch [default: 8192].",
)
@click.option(
    "--context-length",
    type=Number(2, MAX_CONTEXT_LENGTH, whole=True),
    default=None,
    help="Window length for long documents [default: the models' max_position_embeddings].",
)
@click.option(
    "--workers",
    type=Number(1, MAX_WORKERS, whole=True),
    default=1,
    help="Worker processes claiming units from the ledger.",
)
@click.option(
    "--devices",
    default=None,
    help="One worker process per listed device, e.g. cuda:0,cuda:1 (repeat a device for two workers on it).",
)
@click.option(
    "--cache-policy",
    type=click.Choice(["keep", "evict"]),
    default="keep",
    show_default=True,
    help="evict: delete a Hub checkpoint from the Hub cache once every unit needing it is done.",
)
@click.option("--force", is_flag=True, help="Recompute units that are already done.")
@click.option(
    "--wait/--no-wait",
    default=True,
    help="Wait for units other live workers are computing [default: wait]; --no-wait lists them and exits with "
    "status 3.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Follow a local training run as it writes: ingest each unit once its checkpoints are complete (their folder "
    "holds convdiv.complete) until every unit is done or Ctrl-C/SIGTERM stops it (the work group in progress is "
    "published first); status 4 when stopped with units still waiting.",
)
@click.option(
    "--poll-seconds",
    type=Number(0.1, MAX_SECONDS, whole=False),
    default=None,
    help="With --follow: seconds between looks at the suite folder [default: 5].",
)
@click.option(
    "--memory-gb",
    "memory_budget_gb",
    type=Number(0, MAX_MEMORY_GB, whole=False, min_open=True),
    default=None,
    help="Memory budget for one work group's models [default: from free RAM / GPU memory].",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Show progress: a bar on a terminal, a line every --progress-every seconds in a log.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as a JSON object instead of a table.")
@pass_context
def ingest(obj: Context, /, progress: bool, as_json: bool, **options: Any) -> None:
    """Extract per-token CE/entropy/KL for every checkpoint of SUITE on a corpus and load them.

    Work is split into units (one model size at one step; cross-size comparisons per step) that are each
    published in one transaction; re-running skips units already done with the same weights and settings.
    Several processes or machines may run the same command against one database: the ledger gives each unit
    to exactly one of them (see docs/cluster.md).

    With --follow, SUITE is a local folder (or its suite.toml / training.toml) a training run is still writing:
    units wait until their checkpoints are complete (see README, Your own suite).

    Exit status: 0 when every unit is done; 1 when a unit failed; 3 with --no-wait when other workers are still
    computing some units (listed); 4 with --follow when Ctrl-C or SIGTERM stopped it while units still waited for
    checkpoints (listed).
    """
    from convdiv import progress as progress_lines
    from convdiv.ingest.follow import FollowStopped, follow
    from convdiv.ingest.progress import ledger_progress
    from convdiv.ingest.run import IngestError, StillRunning, run

    request = IngestRequest(**options)  # the options are named as the request's fields

    engine = obj.engine()
    shown: set[str] = set()

    def note(line: str) -> None:  # before the work starts; on stdout, as stderr is kept for the one error line
        shown.add(line)
        click.echo(line, err=as_json)  # with --json, stdout holds the JSON document alone

    show = print_json if as_json else print_summary
    progress = progress and progress_lines.active()  # --quiet silences the bar too
    in_log = progress and progress_lines.lines_in_logs()
    try:
        # In a log the live bar would print once, at the end; the ledger tells the units done instead (--follow: its
        # own lines say what it did and what it waits for).
        with ledger_progress(engine, request.corpus) if in_log and not request.follow else contextlib.nullcontext():
            call = follow if request.follow else run
            summary = call(engine, obj.settings, request, progress=progress and not in_log, notes=note)
    except (IngestError, StillRunning, FollowStopped) as exc:
        show(exc.summary, shown)
        raise
    show(summary, shown)


def summary_json(summary) -> dict:
    """What `ingest --json` prints: totals, then one entry per unit (done, skipped or failed)."""
    return {
        "suite": summary.suite,
        "corpus": summary.corpus,
        "device": summary.device,
        "dtype": summary.dtype,
        "units_total": summary.units_total,
        "units_done": summary.units_done,
        "units_skipped": summary.units_skipped,
        "units_failed": summary.units_failed,
        "units_elsewhere": summary.units_elsewhere,
        "units_running": summary.units_running,
        "running_units": dict(summary.running_units),
        "units_waiting": summary.units_waiting,
        "waiting_units": dict(summary.waiting_units),
        "rows_checkpoint_token": summary.rows_checkpoint_token,
        "rows_pair_token": summary.rows_pair_token,
        "elapsed_s": summary.elapsed_s,
        "warnings": list(summary.warnings),
        "units": [
            {
                "unit": o.unit_key,
                "status": o.status,
                "rows_checkpoint_token": o.rows_checkpoint_token,
                "rows_pair_token": o.rows_pair_token,
                "elapsed_s": o.elapsed_s,
                "error": o.error,
            }
            for o in summary.outcomes
        ],
    }


def print_json(summary, shown: Collection[str] = frozenset()) -> None:
    """The summary as JSON (the notes in ``shown`` went to stderr already)."""
    from convdiv.jsonout import echo_json

    echo_json(summary_json(summary))


def print_summary(summary, shown: Collection[str] = frozenset()) -> None:
    """The summary table, the warnings not already shown at the start, and one plain line for logs."""
    table = Table(title=f"ingest {summary.suite} x {summary.corpus} ({summary.device}, {summary.dtype})")
    for column in ("units done", "skipped", "failed", "checkpoint_token rows", "pair_token rows", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.units_done),
        str(summary.units_skipped),
        str(summary.units_failed),
        f"{summary.rows_checkpoint_token:,}",
        f"{summary.rows_pair_token:,}",
        f"{summary.elapsed_s:.1f}",
    )
    out = Console()
    out.print(table)
    for warning in summary.warnings:
        if f"warning: {warning}" not in shown:
            out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if summary.missing_units:
        out.print(f"skipped, revision missing: {', '.join(summary.missing_units)}", highlight=False)
    # One plain line for logs (Slurm, Kubernetes) and scripts: what this process did.
    click.echo(
        f"ingest {summary.suite} x {summary.corpus}: {summary.units_done} done, {summary.units_skipped} "
        f"skipped (already done), {summary.units_elsewhere} done by other workers, {summary.units_failed} "
        f"failed, {summary.units_missing} missing a revision"
        + (f", {summary.units_running} still running on other workers" if summary.units_running else "")
        + (f", {summary.units_waiting} waiting for checkpoints" if summary.units_waiting else "")
    )

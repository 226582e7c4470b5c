"""`convdiv db ...`: the warehouse database's commands (schema, status, checks, access), thin wrappers over
``convdiv.warehouse``.

They live beside the root group, not in ``convdiv/warehouse/``: the warehouse sits below ``convdiv.context``
(tests/test_layout.py), and every command takes the typed ``Context`` like the stages' ``commands.py``.
Those that repair or inspect the schema (`db upgrade`, `db status`, `db check`, `db psql`) run on a stale one
(``check_schema=False``); `db rebuild` and `db grant-analyst` refuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click
from rich.console import Console
from rich.table import Table

from convdiv import __version__
from convdiv.context import Context, pass_context
from convdiv.errors import ConvdivError

console = Console(stderr=True)


@click.group()
def db() -> None:
    """Manage the warehouse database: schema, status, access."""


@db.command("upgrade")
@pass_context
def db_upgrade(obj: Context) -> None:
    """Create or upgrade the warehouse schema to this convdiv's head revision."""
    from convdiv.warehouse import schema

    engine = obj.engine(check_schema=False)
    before = schema.current_revision(engine)
    schema.upgrade(engine)
    after = schema.current_revision(engine)
    click.echo(f"schema: {before or 'empty'} -> {after}")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")
@pass_context
def db_status(obj: Context, as_json: bool) -> None:
    """Show the schema revision (current vs head), the server version, row counts per table and the ingest runs
    that are running, stale or aborted (dead workers' runs are aborted first, as an ingest would)."""
    from convdiv.warehouse import status

    engine = obj.engine(check_schema=False)
    report = status.collect(engine)
    if as_json:
        from convdiv.jsonout import echo_json

        echo_json(report.to_dict())
        if report.drift:
            raise ConvdivError(_drift_error(len(report.drift)))
        return
    out = Console()
    out.print(f"database: {report.url}")
    out.print(f"server:   PostgreSQL {report.server_version}")
    state = (
        "STALE: run `convdiv db upgrade`"
        if not report.up_to_date
        else f"DRIFT: {len(report.drift)} difference(s) from the expected schema"
        if report.drift
        else "up to date"
    )
    out.print(f"schema:   current {report.current or 'none'}, head {report.head} ({state})")
    for line in report.drift:
        out.print(f"schema drift: {line}", highlight=False, soft_wrap=True)
    if report.row_counts:
        table = Table("table", "rows", title="row counts")
        for name, rows in report.row_counts.items():
            table.add_row(name, f"{rows:,}")
        out.print(table)
    if report.run_counts:
        counts = ", ".join(f"{n} {state}" for state, n in report.run_counts.items())
        out.print(
            f"ingest runs: {counts}"
            + (f" (aborted now: {', '.join(map(str, report.aborted_now))})" if report.aborted_now else ""),
            highlight=False,
        )
    if report.runs:
        table = Table(
            "run",
            "host",
            "state",
            "started",
            "last heartbeat",
            "units held",
            "why",
            title="ingest runs running, stale (lease expired) or aborted",
        )
        for r in report.runs:
            table.add_row(
                str(r.ingest_run_id),
                r.host,
                r.state,
                f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                f"{r.heartbeat_at:%H:%M:%S}" if r.heartbeat_at else "-",
                str(r.units_running),
                r.reason or "",
            )
        out.print(table)
    if report.drift:
        raise ConvdivError(_drift_error(len(report.drift)))


@db.command("check")
@click.option("--corpus", default=None, help="Check only this corpus's aggregates (default: every corpus).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def db_check(obj: Context, corpus: str | None, as_json: bool) -> None:
    """Recompute every aggregate from the facts and compare with what is stored; check that every done ingest
    unit holds one fact row per position for each of its checkpoints and comparisons; compare the live schema with
    the one this convdiv expects. Exit 1 on any difference."""
    from convdiv.warehouse import aggregates, catalog, completeness

    engine = obj.engine(check_schema=False)
    drift = catalog.drift(engine)
    corpus_id = _corpus_id(engine, corpus)
    # a schema that drifted cannot be trusted to recompute: report the drift alone
    checks = [] if drift else aggregates.check(engine, corpus_id)
    gaps = [] if drift else completeness.check(engine, corpus_id)
    bad = [c for c in checks if not c.ok]
    if as_json:
        import dataclasses
        import json

        click.echo(
            json.dumps(
                {
                    "schema_drift": drift,
                    "aggregates": [dataclasses.asdict(c) for c in checks],
                    "incomplete_units": [dataclasses.asdict(g) for g in gaps],
                    "ok": not drift and not bad and not gaps,
                }
            )
        )
    else:
        _print_check(drift, checks, gaps)
    if drift:
        raise ConvdivError(_drift_error(len(drift)))
    if gaps:
        raise ConvdivError(_incomplete_units_error(gaps))
    if bad:
        raise ConvdivError(
            f"{len(bad)} aggregate(s) differ from the facts ({', '.join(c.aggregate for c in bad)}): "
            "run `convdiv db rebuild` to recompute them"
        )


def _print_check(drift: list[str], checks: list, gaps: list) -> None:
    """`db check`'s text output: the drift, the aggregates' table, the incomplete units, one summary line."""
    out = Console()
    for line in drift:
        out.print(f"schema drift: {line}", highlight=False, soft_wrap=True)
    if checks:
        table = Table(
            "aggregate",
            "corpus",
            "stored",
            "expected",
            "missing",
            "extra",
            "differing",
            title="aggregates vs a recomputation from the facts",
        )
        for c in checks:
            style = None if c.ok else "red"
            table.add_row(
                c.aggregate,
                str(c.corpus_id),
                f"{c.stored:,}",
                f"{c.expected:,}",
                str(c.missing),
                str(c.extra),
                str(c.differing),
                style=style,
            )
        out.print(table)
    for gap in gaps:
        out.print(f"incomplete unit: {gap.describe()}", highlight=False, soft_wrap=True)
    bad = [c for c in checks if not c.ok]
    out.print(
        "ok: aggregates equal their recomputation; every done unit holds its fact rows; schema as expected"
        if not drift and not bad and not gaps
        else f"{len(drift)} schema difference(s), {len(bad)} aggregate(s) differ, "
        f"{len({g.unit_id for g in gaps})} done unit(s) incomplete"
    )


def _drift_error(n: int) -> str:
    return (
        f"the warehouse schema differs from what convdiv {__version__} expects ({n} difference(s), listed "
        "above): run `convdiv db upgrade`, or restore what was changed by hand"
    )


def _incomplete_units_error(gaps) -> str:
    """One line naming the first incomplete units and the fix (re-ingest them with --force)."""
    from convdiv.textlimits import first_few

    units = list(dict.fromkeys(f"{g.suite}/{g.corpus}/{g.unit_key}" for g in gaps))
    return (
        f"{len(units)} done ingest unit(s) lack fact rows or hold extra ones ({first_few(units)}; listed above): "
        "re-ingest them (`convdiv ingest SUITE --corpus CORPUS --sizes ... --steps ... --force`); "
        "`convdiv db rebuild` recomputes aggregates only and cannot restore facts"
    )


def _corpus_id(engine, name: str | None) -> int | None:
    """The id of corpus ``name`` (None: every corpus), or one line naming the unknown corpus."""
    if name is None:
        return None
    from convdiv.corpus.load import find_corpus

    found = find_corpus(engine, name)
    if found is None:
        raise ConvdivError(f"no corpus named {name!r} (see `convdiv corpus list`)")
    return found.corpus_id


@db.command("rebuild")
@click.option("--corpus", default=None, help="Rebuild only this corpus's aggregates (default: every corpus).")
@pass_context
def db_rebuild(obj: Context, corpus: str | None) -> None:
    """Recompute every aggregate from the facts (after facts were changed by hand; the ingest never needs it)."""
    from convdiv.warehouse import aggregates, completeness

    engine = obj.engine()
    corpus_id = _corpus_id(engine, corpus)
    aggregates.rebuild(engine, corpus_id)
    click.echo("aggregates rebuilt from the facts")
    gaps = completeness.check(engine, corpus_id)
    if gaps:
        # the aggregates now follow the facts, holes included: say so and fail, as `db check` would
        raise ConvdivError(_incomplete_units_error(gaps))


@db.command("url")
@pass_context
def db_url(obj: Context) -> None:
    """Print the warehouse URL (password masked); starts the embedded server if needed."""
    from convdiv.warehouse.engine import mask_url, resolve_url

    click.echo(mask_url(resolve_url(obj.settings)))
    if not obj.settings.database_url:
        console.print(
            "note: the embedded server stops when this command exits; `convdiv db serve` keeps it up "
            "so the URL can be used",
            highlight=False,
        )


@db.command("serve")
@pass_context
def db_serve(obj: Context) -> None:
    """Keep the embedded server up and print its libpq URL (psql, pandas, DuckDB); Ctrl-C or SIGTERM stops it.

    The server listens on a Unix socket only: the URL names its directory (host=...). With DATABASE_URL set,
    prints that URL (password masked) and exits.
    """
    from convdiv.warehouse import embedded
    from convdiv.warehouse.engine import libpq_url, normalise_url

    if obj.settings.database_url:
        click.echo(libpq_url(normalise_url(obj.settings.database_url)))
        return

    def announce(held: embedded.Hold) -> None:
        click.echo(held.libpq_url)
        sys.stdout.flush()  # one line, at once: scripts and notebooks read it from a pipe
        console.print(
            f"convdiv: serving the embedded warehouse (socket in {held.socket_dir}); SQLAlchemy/pandas: "
            f"{held.url} ; Ctrl-C or SIGTERM stops it",
            highlight=False,
            soft_wrap=True,
        )

    status = embedded.serve(obj.settings.pgdata, announce)
    if status:
        raise ConvdivError(
            f"the embedded server in {obj.settings.pgdata} stopped while being served; run `convdiv db serve` again"
        )
    console.print("convdiv: embedded warehouse released", highlight=False)


@db.command("grant-analyst")
@click.argument("role")
@click.option("--login", is_flag=True, help="Create the role as a LOGIN role (default: NOLOGIN group role).")
@pass_context
def db_grant_analyst(obj: Context, role: str, login: bool) -> None:
    """Create (if needed) a read-only ROLE that can SELECT every table and view and write nothing."""
    from convdiv.warehouse import roles

    result = roles.grant_analyst(obj.engine(), role, login=login)
    click.echo(f"{'created' if result.created else 'updated'} read-only role {result.role} on {result.database}")
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


@db.command("psql", context_settings={"ignore_unknown_options": True})
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
@pass_context
def db_psql(obj: Context, psql_args: tuple[str, ...]) -> None:
    """Open psql on the warehouse for ad-hoc SQL (extra arguments go to psql, e.g. -c 'SELECT 1')."""
    from convdiv.warehouse.engine import psql_command

    engine = obj.engine(check_schema=False)
    argv, env = psql_command(engine.url)
    if shutil.which(argv[0]) is None and not os.path.exists(argv[0]):
        raise ConvdivError("psql not found: install the PostgreSQL client")
    sys.exit(subprocess.call([*argv, *psql_args], env={**os.environ, **env}))

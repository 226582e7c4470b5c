"""The `convdiv` command line: the root group, its options and the registration of every command group; the
commands themselves are thin wrappers in each stage's ``commands.py`` (the warehouse's `db` group and `demo` in
``convdiv/cli/db.py`` and ``convdiv/cli/demo.py``), each taking the typed ``convdiv.context.Context``.

Every command except the `db` commands that inspect or repair the schema (cli/db.py) refuses to run on a stale
schema (see ``warehouse.schema.require_current``). Errors a user can fix print one line and exit 1 (2 for a malformed command
line): ConvdivError, and database failures translated by ``convdiv.errors.user_error`` in :func:`main`; what each
fault guarantees is in docs/operations.md.
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape

from convdiv import __version__
from convdiv.bounds import MAX_SECONDS, Number, check_environment
from convdiv.cli.db import db as db_command
from convdiv.cli.demo import demo_cmd as demo_command
from convdiv.config import Settings
from convdiv.context import Context
from convdiv.corpus.commands import corpus as corpus_command
from convdiv.errors import set_url_option, user_error
from convdiv.export.commands import export as export_command
from convdiv.ingest.commands import ingest as ingest_command
from convdiv.report.commands import report as report_command
from convdiv.suites.commands import suite as suite_command

console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="convdiv")
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=None,
    help="PostgreSQL URL (>= 15). Unset: convdiv starts its embedded server under the data dir.",
)
@click.option(
    "--data-dir",
    envvar="CONVDIV_DATA_DIR",
    default=None,
    type=click.Path(file_okay=False),
    help="Where convdiv keeps trained suites, caches and the embedded server's data.",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar="CONVDIV_QUIET",
    help="No progress output (status lines on a terminal, progress lines in logs).",
)
@click.option(
    "--progress-every",
    type=Number(0.1, MAX_SECONDS, whole=False),
    envvar="CONVDIV_PROGRESS_EVERY",
    default=30.0,
    metavar="SECONDS",
    help="When stderr is not a terminal (a log), print a progress line this often.",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, data_dir: str | None, quiet: bool, progress_every: float) -> None:
    """convdiv: how language models trained from different seeds converge and diverge.

    Extract per-token surprisal and KL divergences from every checkpoint of a model suite, store them in
    PostgreSQL, analyse them with SQL views, and report them as one HTML file.
    """
    from convdiv import progress

    check_environment()
    source = click.get_current_context().get_parameter_source("database_url")
    set_url_option("--database-url" if source is click.core.ParameterSource.COMMANDLINE else "DATABASE_URL")
    progress.configure(enabled=True, quiet=quiet, every=progress_every)
    ctx.obj = Context(Settings.from_env(database_url=database_url, data_dir=data_dir))


# ------------------------------------------------------------------------------------------------ commands
# Each stage's commands live in its own commands.py, the warehouse's and the demo's beside this file (imported at
# the top). Registered in the order `convdiv --help` lists them (click sorts them by name).
for command in (
    db_command,
    demo_command,
    corpus_command,
    suite_command,
    ingest_command,
    report_command,
    export_command,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.print("convdiv: aborted")
        sys.exit(130)
    except click.UsageError as exc:
        # One line like every other error: the bad value and where the help is (click's default adds usage lines).
        command = exc.ctx.command_path if exc.ctx is not None else "convdiv"
        console.print(
            f"[red]convdiv: error:[/red] {escape(exc.format_message())} (see `{command} --help`)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:
        # ConvdivError, and database failures a user can cause (privileges, server gone, disk full, lock
        # timeout, ...) translated in one place; anything else is a bug and keeps its traceback.
        error = user_error(exc)
        if error is None:
            raise
        console.print(f"[red]convdiv: error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()

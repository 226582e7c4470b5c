"""`convdiv demo`: the main job end to end on the demo suite (``convdiv.pipeline.run_demo``).

Beside the root group, not in ``convdiv/suites/demo/``: it runs the whole pipeline (train, corpus, ingest, report),
a layer above the suites (tests/test_layout.py).
"""

from __future__ import annotations

import contextlib

import click

from convdiv.context import Context, pass_context


@click.command("demo")
@click.option("--quick", is_flag=True, help="A tiny suite and corpus: the whole run takes about a minute.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Report path [./convdiv-demo-report.html, or ./convdiv-demo-quick-report.html with --quick].",
)
@click.option("--device", default="auto", help="auto, cpu or cuda.")
@pass_context
def demo_cmd(obj: Context, quick: bool, out: str | None, device: str) -> None:
    """Run the main job end to end on the demo suite: train, load the corpus, ingest, report."""
    from pathlib import Path

    from convdiv import progress
    from convdiv.ingest.progress import ledger_progress
    from convdiv.pipeline import run_demo
    from convdiv.warehouse import schema

    engine = obj.engine(check_schema=False)
    if not schema.state(engine).up_to_date and schema.current_revision(engine) is None:
        schema.upgrade(engine)  # a fresh warehouse (the embedded default): create the schema first
    schema.require_current(engine)
    # In a log, the ingest's units are reported from the ledger (training and ingest bars print only at their end);
    # the corpus name is the one run_demo loads.
    ledger = (
        ledger_progress(
            engine, f"{'demo-quick' if quick else 'demo'}-validation", what="demo (train, corpus, ingest units, report)"
        )
        if progress.lines_in_logs()
        else contextlib.nullcontext()
    )
    with ledger:
        result = run_demo(
            engine, obj.settings, quick=quick, out=Path(out) if out else None, device=device, progress=progress.active()
        )
    click.echo(f"report: {result.report}")

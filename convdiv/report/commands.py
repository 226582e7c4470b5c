"""`convdiv report`: write the HTML report of a suite on a corpus."""

from __future__ import annotations

from pathlib import Path

import click

from convdiv.context import Context, pass_context


@click.command("report")
@click.option("--suite", default=None, help="Suite to report on [the ingested one].")
@click.option("--corpus", default=None, help="Corpus to report on [the suite's ingested one].")
@click.option("--sizes", default=None, help="Comma-separated sizes to include [all].")
@click.option("--out", type=click.Path(dir_okay=False), default="report.html", help="Where to write the HTML file.")
@click.option(
    "--ce-fit-kinds",
    default="consecutive_step",
    show_default=True,
    help="Comparison kinds the cross-entropy fits pool, comma-separated (seed_pair, consecutive_step, "
    "cross_size); the study fits consecutive steps within a run.",
)
@click.option(
    "--regression-bootstrap/--no-regression-bootstrap",
    default=None,
    help="Bootstrap the regression coefficients over seeds, drawn with at least 20 seeds [on up to 1,000,000 "
    "seed-pair rows]; the intervals shown are always the jackknife over seeds.",
)
@click.option("--timings", is_flag=True, help="Print the time each section took.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON object (path, scope, sections with status and seconds, timings, warnings).",
)
@pass_context
def report(
    obj: Context,
    suite: str | None,
    corpus: str | None,
    sizes: str | None,
    out: str,
    ce_fit_kinds: str,
    regression_bootstrap: bool | None,
    timings: bool,
    as_json: bool,
) -> None:
    """Write one self-contained HTML report (figures, reading guides, CSVs) of every analysis.

    The file opens offline in any browser. Sections whose data is missing say so instead of failing.
    """
    from convdiv.report.build import build_report
    from convdiv.report.data import Options

    size_list = [s.strip() for s in sizes.split(",") if s.strip()] if sizes else None
    options = Options(
        ce_fit_kinds=tuple(k.strip() for k in ce_fit_kinds.split(",") if k.strip()),
        regression_bootstrap=regression_bootstrap,
    )
    result = build_report(obj.engine(), Path(out), suite=suite, corpus=corpus, sizes=size_list, options=options)
    for warning in result.warnings:
        click.echo(f"note: {warning}", err=True)
    if timings:
        for key, seconds in result.timings.items():
            click.echo(f"{key:>12}: {seconds:6.2f} s", err=True)
    if as_json:
        from convdiv.jsonout import echo_json

        echo_json(report_json(result))
        return
    click.echo(str(result.path.resolve()))


def report_json(result) -> dict:
    """What `report --json` prints: where the file is, what it covers and how each section went."""
    scope = result.scope
    return {
        "path": str(result.path.resolve()),
        "suite": getattr(scope, "suite", None),
        "corpus": getattr(scope, "corpus", None),
        "sizes": list(getattr(scope, "sizes", None) or []),
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "status": "error" if s.error else "missing" if s.missing else "ok",
                "message": (s.error or s.missing or "").splitlines()[0] if (s.error or s.missing) else None,
                "figures": len(s.figures),
                "tables": len(s.tables),
                "seconds": s.seconds,
            }
            for s in result.sections
        ],
        "timings": result.timings,
        "warnings": result.warnings,
    }

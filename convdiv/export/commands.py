"""`convdiv export DIR`: a thin wrapper over ``convdiv.export.parquet.export_parquet``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from convdiv.bounds import MAX_BATCH_ROWS, Number
from convdiv.context import pass_context


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["parquet"]), default="parquet", help="File format.")
@click.option("--suite", "suites", multiple=True, help="Only this suite (repeat for several) [all].")
@click.option("--corpus", "corpora", multiple=True, help="Only this corpus (repeat for several) [all].")
@click.option(
    "--batch-rows",
    type=Number(1, MAX_BATCH_ROWS, whole=True),
    default=1_000_000,
    help="Rows per batch and Parquet row group: bounds the memory used.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest (datasets, rows, files) as JSON.")
@pass_context
def export(
    obj, directory: str, fmt: str, suites: tuple[str, ...], corpora: tuple[str, ...], batch_rows: int, as_json: bool
) -> None:
    """Write the warehouse (dimensions, facts, analysis views) as Parquet files under DIRECTORY.

    Hive-partitioned by suite and corpus, zstd-compressed, one consistent snapshot; read it with DuckDB
    (SELECT * FROM 'DIRECTORY/expected_kl/**/*.parquet') or polars. Re-exporting into the same DIRECTORY replaces
    the datasets it writes.
    """
    from convdiv.export.parquet import export_parquet
    from convdiv.warehouse.engine import libpq_conninfo

    engine = obj.engine()
    result = export_parquet(
        libpq_conninfo(engine.url),
        Path(directory),
        suites=suites or None,
        corpora=corpora or None,
        batch_rows=batch_rows,
    )
    if as_json:
        from convdiv.jsonout import echo_json

        echo_json({"directory": str(result.directory), **result.manifest()})
        return
    table = Table("dataset", "partitioned by", "files", "rows", title=f"export {result.directory}")
    for d in result.datasets:
        table.add_row(d.name, "/".join(d.partitioning) or "-", str(len(d.files)), f"{d.rows:,}")
    Console(width=120).print(table)
    click.echo(f"{result.rows:,} rows in {result.seconds:.1f} s -> {result.directory}")

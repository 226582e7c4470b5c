"""Exports of the warehouse for tools outside PostgreSQL: Parquet for DuckDB, polars and pandas (``parquet``)."""

from convdiv.export.parquet import ExportResult, export_parquet

__all__ = ["ExportResult", "export_parquet"]

"""``convdiv export DIR``: the warehouse as Parquet files (pyarrow, zstd) for DuckDB, polars and pandas.

Layout (hive partitioning, so ``duckdb.sql("SELECT ... FROM 'DIR/expected_kl/**/*.parquet'")`` and
``polars.scan_parquet("DIR/expected_kl/**/*.parquet")`` get ``suite`` and ``corpus`` back as columns)::

    DIR/suite/part-0.parquet ... DIR/comparison/part-0.parquet          dimensions of the selected suites/corpora
    DIR/position/corpus=<name>/part-0.parquet                            per corpus (also vocab_token, corpus_word)
    DIR/checkpoint_token/suite=<name>/corpus=<name>/part-0.parquet      facts per (suite, corpus) (also pair_token)
    DIR/expected_kl/suite=<name>/corpus=<name>/part-0.parquet           every aggregate analysis view, likewise
    DIR/_convdiv_export.json                                             manifest: datasets, rows, files, columns

Views with ``suite``/``corpus`` columns leave them to the path (hive convention: a column is in the file or in the
path, not both); the ids (``suite_id``, ``corpus_id``) stay in the files. Partition values are percent-encoded
(``quote``) so any name makes a valid path. The flat views (token_records, pair_records, regression_inputs) are
not exported: they are joins of the exported tables, and DuckDB rebuilds them in seconds.

Everything is read in one REPEATABLE READ, read-only transaction, so the files are one consistent snapshot even
while an ingest publishes units. Rows stream in batches of ``batch_rows`` (one Parquet row group each), so memory
stays bounded whatever the table size:

- fact tables (every column NOT NULL and fixed-width: int, float, bool) come through ``COPY (query) TO STDOUT
  (FORMAT binary)``, cut at whole rows and decoded with one numpy structured dtype (no Python object per value);
- views and dimensions of numbers, booleans and text (NULLs allowed) through ``COPY ... (FORMAT csv)`` parsed by
  pyarrow's streaming CSV reader with the columns' types given (PostgreSQL writes NULL unquoted and an empty
  string quoted; float output is shortest-exact, so values round-trip);
- the few with arrays, timestamps or JSON (suite, corpus, phase_boundaries) through a server-side cursor.

A new export replaces each dataset folder it writes as a whole (written aside, then renamed into place), so
stale partitions of an earlier export never mix in. DIR must be empty, new, or an earlier convdiv export.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from convdiv import __version__, progress
from convdiv.errors import ConvdivError
from convdiv.textlimits import shown
from convdiv.warehouse import names, queries
from convdiv.warehouse.loader import COPY_SIGNATURE, _row_dtype

Q = queries.beside(__file__)
MANIFEST = "_convdiv_export.json"
DEFAULT_BATCH_ROWS = 1_000_000
COMPRESSION = "zstd"

DIMENSIONS = ("suite", "model", "run", "checkpoint", "comparison", "corpus")
CORPUS_TABLES = ("vocab_token", "position", "corpus_word")
FACT_TABLES = ("checkpoint_token", "pair_token")
# The aggregate analysis views of docs/sql.md, read by name; the flat joins are left out (see the module doc).
VIEWS = (
    names.EXPECTED_KL,
    names.REFERENCE_KL,
    names.CONDITIONAL_KL,
    names.RELATIVE_DIVERGENCE,
    names.CE_DIFFERENCE,
    names.PHASE_BOUNDARIES,
    names.REGRESSION_CELLS,
    names.REGRESSION_MOMENTS,
    names.TOKEN_DIVERGENCE,
    names.CONTEXT_VARIANCE,
    names.POSITION_KL,
)

PARTITIONING = {"dimension": [], "corpus": ["corpus"], "fact": ["suite", "corpus"], "view": ["suite", "corpus"]}

# PostgreSQL type OID -> (Arrow type, binary-COPY type name for the fixed-width path or None).
_INT2, _INT4, _INT8, _FLOAT4, _FLOAT8, _BOOL = 21, 23, 20, 700, 701, 16
ARROW_TYPES: dict[int, pa.DataType] = {
    _BOOL: pa.bool_(),
    _INT2: pa.int16(),
    _INT4: pa.int32(),
    _INT8: pa.int64(),
    _FLOAT4: pa.float32(),
    _FLOAT8: pa.float64(),
    1700: pa.float64(),
    25: pa.string(),
    1043: pa.string(),
    19: pa.string(),
    1184: pa.timestamp("us", tz="UTC"),
    1114: pa.timestamp("us"),
    1082: pa.date32(),
    3802: pa.string(),
    114: pa.string(),
    1005: pa.list_(pa.int16()),
    1007: pa.list_(pa.int32()),
    1016: pa.list_(pa.int64()),
    1021: pa.list_(pa.float32()),
    1022: pa.list_(pa.float64()),
    1009: pa.list_(pa.string()),
}
FIXED_COPY_TYPES = {_BOOL: "bool", _INT2: "int2", _INT4: "int4", _INT8: "int8", _FLOAT4: "float4", _FLOAT8: "float8"}
# Types whose CSV text pyarrow parses back exactly: numbers (NaN/Infinity included), booleans (t/f), text.
CSV_TYPES = {*FIXED_COPY_TYPES, 1700, 25, 1043, 19}
CSV_BYTES_PER_VALUE = 12  # a rough width of one CSV value, to turn batch_rows into pyarrow's block size


@dataclass
class Column:
    name: str
    type_oid: int
    not_null: bool

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES.get(self.type_oid, pa.string())  # anything else: its text form


@dataclass
class DatasetResult:
    name: str
    kind: str  # dimension | corpus | fact | view
    partitioning: list[str]
    rows: int = 0
    files: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    path: str = "cursor"  # how rows were read: fixed (binary COPY) | csv (CSV COPY) | cursor
    seconds: float = 0.0


@dataclass
class ExportResult:
    directory: Path
    datasets: list[DatasetResult]
    seconds: float
    suites: list[str]
    corpora: list[str]

    @property
    def rows(self) -> int:
        return sum(d.rows for d in self.datasets)

    def manifest(self) -> dict:
        return {
            "format": "parquet",
            "compression": COMPRESSION,
            "convdiv_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "suites": self.suites,
            "corpora": self.corpora,
            "seconds": round(self.seconds, 3),
            "datasets": {
                d.name: {
                    "kind": d.kind,
                    "partitioning": d.partitioning,
                    "rows": d.rows,
                    "files": d.files,
                    "columns": d.columns,
                    "read_by": d.path,
                    "seconds": round(d.seconds, 3),
                }
                for d in self.datasets
            },
        }


# ------------------------------------------------------------------------------------------------ entry point


def export_parquet(
    conninfo: str,
    directory: Path,
    *,
    suites: Sequence[str] | None = None,
    corpora: Sequence[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ExportResult:
    """Write the selected suites/corpora (default: everything) as Parquet under ``directory``; see the module doc.

    ``conninfo`` is a libpq URL or ``key=value`` connection string (``warehouse.engine.libpq_conninfo``).
    Raises ConvdivError (one line) on an unknown suite or corpus, a directory that holds something else, or a
    write failure.
    """
    import psycopg

    if batch_rows < 1:
        raise ConvdivError(f"--batch-rows must be >= 1, got {batch_rows}")
    directory = Path(directory).expanduser().resolve()
    _check_directory(directory)
    started = time.perf_counter()
    staging = directory / f".export-{os.getpid()}"
    try:
        conn = psycopg.connect(conninfo)
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            selection = _selection(conn, suites, corpora)
            results = []
            with progress.step(f"export to {directory}", unit="rows") as bar:
                for name, kind, parts in _plan(selection):
                    bar.note(name)
                    results.append(_export_dataset(conn, staging, name, kind, parts, batch_rows, bar.advance))
        finally:
            # Read-only, so nothing to commit; closing (not rolling back) also ends a COPY cut short by an error,
            # where a rollback would wait for the rest of the stream.
            conn.close()
        _swap_into_place(staging, directory, [r.name for r in results])
    except OSError as exc:
        raise ConvdivError(f"cannot write the export to {directory}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = ExportResult(
        directory,
        results,
        time.perf_counter() - started,
        suites=[s for _, s in selection.suites],
        corpora=[c for _, c in selection.corpora],
    )
    (directory / MANIFEST).write_text(json.dumps(result.manifest(), indent=2) + "\n", encoding="utf-8")
    return result


# ------------------------------------------------------------------------------------------------ selection


@dataclass
class Selection:
    suites: list[tuple[int, str]]
    corpora: list[tuple[int, str]]
    pairs: list[tuple[int, int, str, str]]  # suite_id, corpus_id, suite, corpus: pairs with facts


def _selection(conn, suites, corpora) -> Selection:
    params = {"suites": list(suites) if suites else None, "corpora": list(corpora) if corpora else None}
    rows = conn.execute(Q["selection"], params).fetchall()
    sel = Selection(
        suites=[(r[1], r[3]) for r in rows if r[0] == "suite"],
        corpora=[(r[2], r[4]) for r in rows if r[0] == "corpus"],
        pairs=sorted((r[1], r[2], r[3], r[4]) for r in rows if r[0] == "pair"),
    )
    for wanted, found, what in ((suites, sel.suites, "suite"), (corpora, sel.corpora, "corpus")):
        missing = sorted(set(wanted or ()) - {name for _, name in found})
        if missing:
            command = "suite show" if what == "suite" else "corpus list"
            raise ConvdivError(f"no {what} named {shown(missing[0])} in the warehouse (see `convdiv {command}`)")
    return sel


# A partition: (path parts under the dataset folder, query parameters).
Partition = tuple[list[tuple[str, str]], dict]


def _plan(sel: Selection) -> Iterator[tuple[str, str, list[Partition]]]:
    whole = {"suite_ids": [i for i, _ in sel.suites], "corpus_ids": [i for i, _ in sel.corpora]}
    for name in DIMENSIONS:
        yield name, "dimension", [([], whole)]
    for name in CORPUS_TABLES:
        yield name, "corpus", [([("corpus", c)], {"corpus_id": i}) for i, c in sel.corpora]
    per_pair = [([("suite", s), ("corpus", c)], {"suite_id": si, "corpus_id": ci}) for si, ci, s, c in sel.pairs]
    for name in FACT_TABLES:
        yield name, "fact", per_pair
    for name in VIEWS:
        yield name, "view", per_pair


# ------------------------------------------------------------------------------------------------ one dataset


def _columns(conn, name: str) -> tuple[list[Column], str]:
    rows = conn.execute(queries.WAREHOUSE["relation_columns"], {"name": name}).fetchall()
    if not rows:
        raise ConvdivError(f"the warehouse has no table or view {name!r}; run `convdiv db upgrade`")
    return [Column(r[0], r[1], r[2]) for r in rows], rows[0][3]


def _export_dataset(
    conn, staging: Path, name: str, kind: str, parts: list[Partition], batch_rows: int, on_rows: Callable[[int], None]
) -> DatasetResult:
    started = time.perf_counter()
    columns, relkind = _columns(conn, name)
    partition_keys = PARTITIONING[kind]
    columns, query = partition_query(name, kind, columns)
    fixed = relkind in ("r", "p") and all(c.not_null and c.type_oid in FIXED_COPY_TYPES for c in columns)
    csv = not fixed and all(c.type_oid in CSV_TYPES for c in columns)
    schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=not c.not_null) for c in columns])
    result = DatasetResult(
        name,
        kind,
        partition_keys,
        columns=[c.name for c in columns],
        path="fixed" if fixed else "csv" if csv else "cursor",
    )
    for path_parts, params in parts:
        folder = staging / name
        for key, value in path_parts:
            folder = folder / f"{key}={quote(value, safe='')}"
        reader = _fixed_batches if fixed else _csv_batches if csv else _cursor_batches
        batches = reader(conn, query, params, columns, schema, batch_rows)
        rows = _write_file(
            folder / "part-0.parquet", schema, batches, on_rows, keep_empty=not path_parts
        )  # an unpartitioned dataset always has its (maybe empty) file
        if rows or not path_parts:
            result.files.append(str((folder / "part-0.parquet").relative_to(staging)))
        result.rows += rows
    result.seconds = time.perf_counter() - started
    return result


def partition_query(name: str, kind: str, columns: list[Column]):
    """(the columns written, the SELECT of one partition's rows) for a dataset; parameters as in ``_plan``."""
    from psycopg import sql as pgsql

    if kind != "view":
        return columns, pgsql.SQL(Q[f"rows/{name}"])
    columns = [c for c in columns if c.name not in PARTITIONING[kind]]  # the partition values live in the path
    query = pgsql.SQL(Q["view_rows"]).format(
        columns=pgsql.SQL(", ").join(pgsql.Identifier(c.name) for c in columns), view=pgsql.Identifier(name)
    )
    return columns, query


def _write_file(path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch], on_rows, *, keep_empty: bool) -> int:
    writer = None
    rows = 0
    try:
        for batch in batches:
            if writer is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)
            writer.write_batch(batch, row_group_size=max(1, batch.num_rows))
            rows += batch.num_rows
            on_rows(batch.num_rows)
        if writer is None and keep_empty:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)
    finally:
        if writer is not None:
            writer.close()
    return rows


def _fixed_batches(
    conn, query, params, columns: list[Column], schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Binary COPY of fixed-width NOT NULL columns, cut into batches of whole rows and decoded by numpy."""
    from psycopg import sql as pgsql

    copy_types = [FIXED_COPY_TYPES[c.type_oid] for c in columns]
    dtype = _row_dtype(copy_types)
    width = dtype.itemsize
    limit = batch_rows * width
    buf = bytearray()
    header_done = False
    statement = pgsql.SQL(Q["copy_binary_out"]).format(query=query)
    with conn.cursor() as cur:
        with cur.copy(statement, params) as copy:
            for chunk in copy:
                buf += chunk
                if not header_done:
                    if len(buf) < 19:
                        continue
                    if not buf.startswith(COPY_SIGNATURE):
                        raise ConvdivError("export: the server sent something other than binary COPY data")
                    ext = int.from_bytes(buf[15:19], "big")
                    if len(buf) < 19 + ext:
                        continue
                    del buf[: 19 + ext]
                    header_done = True
                if len(buf) >= limit:
                    whole = len(buf) // width * width
                    yield _decode(bytes(buf[:whole]), dtype, columns, schema)
                    del buf[:whole]
    if buf[-2:] != b"\xff\xff":
        raise ConvdivError("export: the binary COPY stream ended without its trailer")
    del buf[-2:]
    if len(buf) % width:
        raise ConvdivError("export: binary COPY rows do not match the declared column types")
    if buf:
        yield _decode(bytes(buf), dtype, columns, schema)


def _decode(body: bytes, dtype: np.dtype, columns: list[Column], schema: pa.Schema) -> pa.RecordBatch:
    rows = np.frombuffer(body, dtype=dtype)
    bad = np.any(rows["n"] != len(columns)) or any(
        np.any(rows[f"l{i}"] != dtype[f"v{i}"].itemsize) for i in range(len(columns))
    )
    if bad:
        raise ConvdivError("export: binary COPY rows do not match the declared column types")
    arrays = [pa.array(rows[f"v{i}"].astype(dtype[f"v{i}"].newbyteorder("="))) for i in range(len(columns))]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class _CopyStream(io.RawIOBase):
    """A COPY's chunks as a readable binary file, for pyarrow's streaming CSV reader."""

    def __init__(self, first: bytes, chunks: Iterator):
        self._buf = memoryview(first)
        self._chunks = chunks

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not len(self._buf):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buf = memoryview(bytes(chunk))
        n = min(len(target), len(self._buf))
        target[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _csv_batches(
    conn, query, params, columns: list[Column], schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """``COPY ... (FORMAT csv)`` parsed by pyarrow as it streams, the column types given (nothing inferred)."""
    from psycopg import sql as pgsql

    block = min(256 << 20, max(1 << 20, batch_rows * len(columns) * CSV_BYTES_PER_VALUE))
    statement = pgsql.SQL(Q["copy_csv_out"]).format(query=query)
    with conn.cursor() as cur:
        with cur.copy(statement, params) as copy:
            chunks = iter(copy)
            first = next(chunks, None)
            if first is None:
                return
            reader = pacsv.open_csv(
                io.BufferedReader(_CopyStream(bytes(first), chunks), buffer_size=1 << 20),
                read_options=pacsv.ReadOptions(
                    column_names=[c.name for c in columns], block_size=block, use_threads=False
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c.name: f.type for c, f in zip(columns, schema)},
                    true_values=["t"],
                    false_values=["f"],
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)


def _cursor_batches(
    conn, query, params, columns: list[Column], schema: pa.Schema, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """A server-side cursor, ``batch_rows`` rows at a time, turned into Arrow column by column."""
    converters = [_converter(c) for c in columns]
    with conn.cursor(name=f"convdiv_export_{os.getpid()}") as cur:
        cur.itersize = batch_rows
        cur.execute(query, params)
        while True:
            rows = cur.fetchmany(batch_rows)
            if not rows:
                return
            values = list(zip(*rows))
            arrays = [pa.array(convert(list(v)), type=f.type) for convert, v, f in zip(converters, values, schema)]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def _converter(column: Column) -> Callable[[list], list]:
    """Python values from psycopg -> values pyarrow takes for the column's Arrow type."""
    if column.type_oid == 1700:  # numeric -> float64
        return lambda vs: [None if v is None else float(v) for v in vs]
    if column.type_oid in (3802, 114):  # json(b) -> its text
        return lambda vs: [None if v is None else json.dumps(v) for v in vs]
    if column.type_oid not in ARROW_TYPES:
        return lambda vs: [None if v is None else str(v) for v in vs]
    return lambda vs: vs


# ------------------------------------------------------------------------------------------------ the directory


def _check_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ConvdivError(f"export directory {directory} is a file; give a directory")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MANIFEST).exists():
        raise ConvdivError(
            f"export directory {directory} is not empty and holds no convdiv export; give a new or empty directory"
        )
    directory.mkdir(parents=True, exist_ok=True)


def _swap_into_place(staging: Path, directory: Path, names: list[str]) -> None:
    """Replace each dataset folder of ``directory`` by the freshly written one (old folder out, new one in)."""
    old = directory / f".export-old-{os.getpid()}"
    old.mkdir(exist_ok=True)
    try:
        for name in names:
            target = directory / name
            if target.exists():
                target.rename(old / name)
            if (staging / name).exists():
                (staging / name).rename(target)
    finally:
        shutil.rmtree(old, ignore_errors=True)

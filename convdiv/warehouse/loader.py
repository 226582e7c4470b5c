"""Bulk transfer of numpy columns to and from PostgreSQL with binary COPY (psycopg 3).

PostgreSQL's binary COPY format (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format") is

    header  = b"PGCOPY\\n\\xff\\r\\n\\0" + int32 flags (0) + int32 header-extension length (0)
    tuple   = int16 field count, then per field: int32 byte length + the value in network (big-endian) order
    trailer = int16 -1

For fixed-width, non-NULL columns every tuple has the same layout, so a whole batch of rows is one numpy
structured array with big-endian fields: filling it is a handful of vectorised column assignments and
``tobytes()`` is the COPY stream. No Python object per row or per value is ever created, which is what makes
this loader about as fast as ``psql \\copy`` from a file (see ``bench/ingest.py``).

Reading back uses the same layout in reverse (``COPY (query) TO STDOUT (FORMAT binary)`` then ``np.frombuffer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from psycopg import sql

from convdiv.warehouse import queries

Q = queries.WAREHOUSE  # loader.sql
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
COPY_HEADER = COPY_SIGNATURE + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# PostgreSQL type name -> big-endian numpy dtype of its binary representation (fixed-width types only).
PG_BINARY_DTYPES: dict[str, str] = {
    "int2": ">i2",
    "smallint": ">i2",
    "int4": ">i4",
    "integer": ">i4",
    "int8": ">i8",
    "bigint": ">i8",
    "float4": ">f4",
    "real": ">f4",
    "float8": ">f8",
    "double precision": ">f8",
    "bool": "?",
    "boolean": "?",
}

# COPY payloads are written in slices of this many bytes so psycopg never holds two copies of a huge buffer.
WRITE_CHUNK_BYTES = 8 << 20


def _row_dtype(pg_types: Sequence[str]) -> np.dtype:
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, pg_type in enumerate(pg_types):
        try:
            value = PG_BINARY_DTYPES[pg_type.lower()]
        except KeyError:
            raise ValueError(f"binary COPY supports fixed-width types only, not {pg_type!r}") from None
        fields += [(f"l{i}", ">i4"), (f"v{i}", value)]
    return np.dtype(fields)  # packed (align=False): exactly the wire layout


def encode_rows(columns: Sequence[np.ndarray], pg_types: Sequence[str]) -> np.ndarray:
    """The COPY tuples (without header and trailer) as one structured array, for equal-length NULL-free columns.

    The per-row constants (field count and field lengths) are broadcast from a one-row template in a single
    copy, then each value column is written once (converted to network byte order on the way); that is about
    three times faster than assigning the constant fields one by one.
    """
    if len(columns) != len(pg_types):
        raise ValueError("one PostgreSQL type per column")
    n = len(columns[0]) if columns else 0
    if any(len(c) != n for c in columns):
        raise ValueError("columns differ in length")
    dtype = _row_dtype(pg_types)
    template = np.zeros((), dtype=dtype)
    template["n"] = len(columns)
    for i in range(len(columns)):
        template[f"l{i}"] = dtype[f"v{i}"].itemsize
    rows = np.empty(n, dtype=dtype)
    rows[...] = template
    for i, col in enumerate(columns):
        rows[f"v{i}"] = col
    return rows


def encode_binary_copy(columns: Sequence[np.ndarray], pg_types: Sequence[str]) -> bytes:
    """The complete binary COPY stream (header, tuples, trailer) for equal-length, NULL-free columns."""
    return COPY_HEADER + encode_rows(columns, pg_types).tobytes() + COPY_TRAILER


def copy_into(cursor, table: str, columns: Mapping[str, np.ndarray], pg_types: Sequence[str]) -> int:
    """COPY the numpy ``columns`` (name -> array) into ``table`` with the binary protocol; returns the row count.

    ``cursor`` is a psycopg 3 cursor; the COPY joins whatever transaction the cursor's connection is in.
    The tuples go out straight from the numpy buffer in 8 MiB slices (the fastest slice size measured;
    ``bench/ingest.py``), never copied into one big ``bytes``.
    """
    names = list(columns)
    rows = encode_rows([np.asarray(columns[c]) for c in names], pg_types)
    body = rows.view(np.uint8).data if len(rows) else memoryview(b"")  # .data: the array's buffer, not a copy
    statement = sql.SQL(Q["copy_binary_in"]).format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, names))
    )
    with cursor.copy(statement) as copy:
        copy.write(COPY_HEADER)
        for start in range(0, len(body), WRITE_CHUNK_BYTES):
            copy.write(body[start : start + WRITE_CHUNK_BYTES])
        copy.write(COPY_TRAILER)
    return len(rows)


def read_binary_copy(payload: bytes, pg_types: Sequence[str]) -> np.ndarray:
    """Parse a binary COPY stream of fixed-width, NULL-free columns into a structured array with fields v0, v1..."""
    if not payload.startswith(COPY_SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(payload[15:19], "big")
    body = memoryview(payload)[19 + ext : len(payload) - 2]
    dtype = _row_dtype(pg_types)
    if len(body) % dtype.itemsize:
        raise ValueError("binary COPY stream has NULLs or variable-width values; cast them in the query")
    rows = np.frombuffer(body, dtype=dtype)
    if len(rows) and (
        np.any(rows["n"] != len(pg_types))
        or any(np.any(rows[f"l{i}"] != dtype[f"v{i}"].itemsize) for i in range(len(pg_types)))
    ):
        raise ValueError("binary COPY stream does not match the declared column types")
    return rows


def copy_out(cursor, query: str, pg_types: Sequence[str], params: Iterable | None = None) -> list[np.ndarray]:
    """Run ``COPY (query) TO STDOUT (FORMAT binary)`` and return its columns as native-endian numpy arrays.

    Every selected column must be NOT NULL and of a fixed-width type listed in ``PG_BINARY_DTYPES``
    (cast in the query, e.g. ``unigram_logprob::float8``).
    """
    chunks: list[bytes] = []
    with cursor.copy(sql.SQL(Q["copy_binary_out"]).format(query=sql.SQL(query)), params) as copy:
        for data in copy:
            chunks.append(bytes(data))
    rows = read_binary_copy(b"".join(chunks), pg_types)
    return [rows[f"v{i}"].astype(rows.dtype[f"v{i}"].newbyteorder("=")) for i in range(len(pg_types))]

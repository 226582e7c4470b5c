"""Encode column arrays as PostgreSQL binary COPY data with numpy (no per-row Python), NULLs and text included.

``loader.py`` is the fast path for fixed-width, NULL-free facts (one structured array per batch); this module
handles the dimension rows that carry text and NULLs (positions' POS tags, vocabulary tokens).

Binary COPY format (PostgreSQL docs, "COPY ... Binary Format"): a 19-byte header (signature, flags, extension
length), then per row an int16 field count and per field an int32 byte length (-1 = NULL) followed by the value
in network byte order (int2/int4/int8 big-endian, bool one byte, text raw UTF-8); an int16 -1 trailer.

Text columns are given as integer codes into a small list of strings (tags), so every row's text field is one
of a few precomputed byte pieces, scattered into place per code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from convdiv.warehouse.loader import COPY_HEADER as HEADER, COPY_TRAILER as TRAILER
from convdiv.warehouse.loader import PG_BINARY_DTYPES as _FIXED


@dataclass
class Column:
    kind: str                      # int2 | int4 | int8 | float4 | float8 | bool | text_code
    values: np.ndarray             # numbers, bools, or codes into `strings` (-1 = NULL) for text_code
    strings: Sequence[str] = ()


def encode(columns: Sequence[Column], *, header: bool = True, trailer: bool = True) -> bytes:
    """Binary COPY bytes for the rows formed by the columns (all of equal length)."""
    n = len(columns[0].values)
    if any(len(c.values) != n for c in columns):
        raise ValueError("columns differ in length")
    row_len = np.full(n, 2, dtype=np.int64)
    prepared = []
    for col in columns:
        if col.kind == "text_code":
            codes = np.asarray(col.values, dtype=np.int64)
            pieces = [len(b).to_bytes(4, "big") + b for b in (s.encode("utf-8") for s in col.strings)]
            null = (-1).to_bytes(4, "big", signed=True)
            lengths = np.array([len(p) for p in pieces] + [len(null)], dtype=np.int64)
            row_len += lengths[codes]  # code -1 indexes the NULL piece at the end
            prepared.append(("text", codes, pieces + [null], lengths))
        else:
            dtype = np.dtype(_FIXED[col.kind])
            width = dtype.itemsize
            mat = np.empty((n, 4 + width), dtype=np.uint8)
            mat[:, :4] = np.frombuffer(width.to_bytes(4, "big"), dtype=np.uint8)
            mat[:, 4:] = np.ascontiguousarray(np.asarray(col.values).astype(dtype)).view(np.uint8).reshape(n, width)
            row_len += 4 + width
            prepared.append(("fixed", mat, None, None))
    start = len(HEADER) if header else 0
    offsets = start + np.concatenate([[0], np.cumsum(row_len)[:-1]]) if n else np.zeros(0, np.int64)
    total = start + int(row_len.sum()) + (len(TRAILER) if trailer else 0)
    buf = np.empty(total, dtype=np.uint8)
    if header:
        buf[: len(HEADER)] = np.frombuffer(HEADER, dtype=np.uint8)
    count = np.frombuffer(len(columns).to_bytes(2, "big"), dtype=np.uint8)
    buf[offsets[:, None] + np.arange(2)] = count
    cursor = offsets + 2
    for kind, a, pieces, lengths in prepared:
        if kind == "fixed":
            buf[cursor[:, None] + np.arange(a.shape[1])] = a
            cursor = cursor + a.shape[1]
        else:
            codes = a
            for code in np.unique(codes):
                rows = cursor[codes == code]
                piece = np.frombuffer(pieces[code], dtype=np.uint8)  # code -1 -> the NULL piece
                buf[rows[:, None] + np.arange(len(piece))] = piece
            cursor = cursor + lengths[codes]
    if trailer:
        buf[-len(TRAILER):] = np.frombuffer(TRAILER, dtype=np.uint8)
    return buf.tobytes()

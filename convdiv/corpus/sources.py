"""Where a corpus's documents come from: local text files or a Hugging Face ``datasets`` source.

Text files are read as UTF-8 and split into documents at a literal separator (default ``<|endoftext|>``, the
Pile's document separator); pieces that are empty or only whitespace (e.g. after a trailing separator) are
dropped, every other piece is kept verbatim (no stripping), so character offsets stay those of the file.
An empty separator keeps each file as one document.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from convdiv.errors import ConvdivError

DEFAULT_SEPARATOR = "<|endoftext|>"
DATASET_BUILDERS = ("json", "parquet", "text", "csv")


@dataclass
class Documents:
    """Documents in corpus order, and a description of where they came from (stored in ``corpus.options``)."""

    documents: list[str]
    source: str
    origin: list[dict] = field(default_factory=list)  # per input: {"path"/"dataset": ..., "documents": n}


def split_documents(text: str, separator: str | None) -> list[str]:
    pieces = text.split(separator) if separator else [text]
    return [piece for piece in pieces if piece.strip()]


def read_text_file(path: str | Path) -> str:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConvdivError(f"text file not found: {path}") from None
    except IsADirectoryError:
        raise ConvdivError(f"text path is a directory, not a file: {path}") from None
    except OSError as exc:
        raise ConvdivError(f"cannot read text file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConvdivError(f"text file {path} is not UTF-8 (invalid byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):  # a BOM is an encoding marker, not text
        text = text[1:]
    if not text.strip():
        raise ConvdivError(f"text file {path} is empty")
    return text


def from_text_files(paths: list[str | Path], separator: str | None = DEFAULT_SEPARATOR) -> Documents:
    """Documents of each file in the given order, split at ``separator``."""
    if not paths:
        raise ConvdivError("no text files given")
    documents: list[str] = []
    origin = []
    for path in paths:
        docs = split_documents(read_text_file(path), separator)
        if not docs:
            raise ConvdivError(f"text file {path} has no non-empty document")
        documents.extend(docs)
        origin.append({"path": str(Path(path).resolve()), "documents": len(docs)})
    return Documents(documents, source=", ".join(str(p) for p in paths), origin=origin)


def from_dataset(
    spec: str,
    *,
    split: str = "validation",
    text_column: str = "text",
    config: str | None = None,
    separator: str | None = DEFAULT_SEPARATOR,
    cache_dir: str | Path | None = None,
) -> Documents:
    """Documents from ``datasets``: ``BUILDER:PATH`` (json, parquet, text, csv; PATH may be a glob) or a hub
    dataset name (needs a network). One row = one document (``text`` files: one file = one document, then split
    at the separator)."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - a declared dependency
        raise ConvdivError("the `datasets` package is required for --dataset") from None

    builder, _, path = spec.partition(":")
    kwargs: dict = {"cache_dir": str(cache_dir) if cache_dir else None}
    try:
        if builder in DATASET_BUILDERS and path:
            if not glob.glob(os.path.expanduser(path)):
                raise ConvdivError(f"dataset file not found: {path}")
            if builder == "text":
                kwargs["sample_by"] = "document"
            data = datasets.load_dataset(builder, data_files={split: path}, split=split, **kwargs)
        else:
            data = datasets.load_dataset(spec, config, split=split, **kwargs)
    except ConvdivError:
        raise
    except Exception as exc:
        raise ConvdivError(f"cannot load dataset {spec!r} (split {split!r}): {exc}") from None
    if text_column not in data.column_names:
        raise ConvdivError(f"dataset {spec!r} has no column {text_column!r} (columns: {', '.join(data.column_names)})")
    documents: list[str] = []
    for row, text in enumerate(data[text_column]):
        if not isinstance(text, str):
            raise ConvdivError(f"dataset {spec!r} row {row}: column {text_column!r} is not text")
        documents.extend(split_documents(text, separator if builder == "text" else None))
    if not documents:
        raise ConvdivError(f"dataset {spec!r} (split {split!r}) has no non-empty document")
    return Documents(
        documents, source=spec, origin=[{"dataset": spec, "split": split, "column": text_column,
                                         "documents": len(documents)}]
    )

"""Where a corpus's documents come from: local text files or a Hugging Face ``datasets`` source.

Text files are read as UTF-8 and split into documents at a literal separator (default ``<|endoftext|>``, the
Pile's document separator); pieces that are empty or only whitespace (e.g. after a trailing separator) are
dropped, every other piece is kept verbatim (no stripping), so character offsets stay those of the file.
An empty separator, or the keyword ``none``, keeps each file as one document (:func:`parse_separator`).

Presets (:data:`PRESETS`) set several options in one word. ``study`` is the evaluation of Fehlauer et al. (2025):
all inputs packed into one sequence (several inputs are joined by ``<|endoftext|>``, the Pile's document
separator, which Pythia's tokenizer reads as its EOS token), no separator, BOS before and EOS after the sequence,
frequencies from a counts file (the Pile validation counts), and a sliding window of 2,048 tokens with stride
1,024 stored with the corpus for ``convdiv ingest``.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from convdiv.errors import ConvdivError

DEFAULT_SEPARATOR = "<|endoftext|>"
DATASET_BUILDERS = ("json", "parquet", "text", "csv")
NO_SEPARATOR = "none"  # --separator none: no separator (each file or row is one document)
# Control characters are not text: C0 (NUL ... US) except tab, newline and carriage return, DEL, and C1 (U+0080 ..
# U+009F, two bytes in UTF-8 after the lead byte C2, which is never a continuation byte). Matched on the raw bytes,
# so the offset reported is the file's byte offset.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
# --max-text-mb: the text one `corpus add` reads, at most (MB = 10^6 bytes of UTF-8). `bench/corpus_long.py --sizes 5`
# measured 789 MB peak RSS for a 5 MB single line (docs/operations.md); larger inputs are refused before any work.
DEFAULT_MAX_TEXT_MB = 5.0


@dataclass(frozen=True)
class CorpusPreset:
    """Options a preset sets; options given explicitly on the command line win over them."""

    name: str
    bos: bool
    eos: bool
    separator: str | None  # None: no separator
    pack: bool  # every document of every input joined into one sequence
    context_length: int | None  # the ingest window (tokens) and its stride, stored in corpus.options["window"]
    window_stride: int | None
    needs_frequency_counts: bool
    description: str


PRESETS = {
    "study": CorpusPreset(
        name="study",
        bos=True,
        eos=True,
        separator=None,
        pack=True,
        context_length=2048,
        window_stride=1024,
        needs_frequency_counts=True,
        description="Fehlauer et al. (2025): one packed sequence with BOS/EOS, no separator, 2048-token windows with "
        "stride 1024, frequencies from --frequency-counts (the Pile validation counts)",
    ),
}


def parse_separator(value: str | None) -> str | None:
    """``--separator`` as given: '' and ``none`` (any case) mean no separator; anything else is literal."""
    if value is None or value == "" or value.strip().lower() == NO_SEPARATOR:
        return None
    return value


def pack_documents(docs: Documents) -> Documents:
    """Every document joined into one sequence with the Pile's separator ``<|endoftext|>`` between them (the study's
    sample is ten Pile documents joined so); a single document is returned as it is."""
    if len(docs.documents) <= 1:
        return docs
    return Documents(
        [DEFAULT_SEPARATOR.join(docs.documents)],
        source=docs.source,
        origin=[*docs.origin, {"packed": len(docs.documents)}],
    )


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
    check_control_characters(data, f"text file {path}")
    if text.startswith("\ufeff"):  # a BOM is an encoding marker, not text
        text = text[1:]
    if not text.strip():
        raise ConvdivError(f"text file {path} is empty")
    return text


def check_control_characters(data: bytes, what: str) -> None:
    """Refuse text holding a control character other than tab, newline or carriage return, naming its byte offset
    (a NUL-filled or binary file would otherwise be tokenised into thousands of meaningless positions)."""
    found = _CONTROL_BYTES.search(data)
    if found is not None:
        code = found.group().decode("utf-8", "replace")
        raise ConvdivError(
            f"{what} holds control character U+{ord(code):04X} at byte offset {found.start():,}: give plain text "
            "(tab, newline and carriage return are the only control characters allowed)"
        )


def check_text_size(paths: list[str | Path], max_mb: float) -> None:
    """Refuse, before reading them, text files larger than ``max_mb`` MB together (``--max-text-mb``)."""
    sizes = []
    for path in paths:
        try:
            sizes.append(Path(path).stat().st_size)
        except OSError:
            sizes.append(0)  # a missing file is reported when it is read
    _refuse_size(sum(sizes), max_mb, f"text file{'s' if len(paths) > 1 else ''} {', '.join(map(str, paths[:3]))}")


def check_documents_size(documents: list[str], max_mb: float, what: str) -> None:
    """The same bound for documents read from a dataset (their UTF-8 size)."""
    _refuse_size(sum(len(d.encode("utf-8")) for d in documents), max_mb, what)


def _refuse_size(size: int, max_mb: float, what: str) -> None:
    if size > max_mb * 1e6:
        raise ConvdivError(
            f"{what}: {size / 1e6:,.1f} MB of text exceeds --max-text-mb {max_mb:g} (the memory `corpus add` "
            f"needs grows with the text: about 1 GB for 5 MB in one line): split the text, or raise --max-text-mb"
        )


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
    except Exception as exc:  # noqa: BLE001 - the datasets library's boundary: hub, network, builder and parse
        # errors have no common base; each becomes one line naming the dataset (no traceback reaches the user)
        raise ConvdivError(f"cannot load dataset {spec!r} (split {split!r}): {exc}") from None
    if text_column not in data.column_names:
        raise ConvdivError(f"dataset {spec!r} has no column {text_column!r} (columns: {', '.join(data.column_names)})")
    documents: list[str] = []
    for row, text in enumerate(data[text_column]):
        if not isinstance(text, str):
            raise ConvdivError(f"dataset {spec!r} row {row}: column {text_column!r} is not text")
        check_control_characters(text.encode("utf-8", "surrogatepass"), f"dataset {spec!r} row {row}")
        documents.extend(split_documents(text, separator if builder == "text" else None))
    if not documents:
        raise ConvdivError(f"dataset {spec!r} (split {split!r}) has no non-empty document")
    return Documents(
        documents,
        source=spec,
        origin=[{"dataset": spec, "split": split, "column": text_column, "documents": len(documents)}],
    )

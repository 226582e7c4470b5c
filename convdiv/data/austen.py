"""The bundled Austen corpus: five training novels and one held-out validation novel (Persuasion).

Each novel is stored xz-compressed and byte-identical to its source (PROVENANCE.md lists the sha256 checked on
read). :func:`chapters` turns a novel into documents: one per chapter, title page, volume/chapter headings and end
marks dropped, hard-wrapped lines joined so that a paragraph is one line and paragraphs are separated by a blank line.
"""

from __future__ import annotations

import hashlib
import lzma
import re
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "austen"
NOVELS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility")
VALIDATION_NOVEL = "persuasion"
TRAINING_NOVELS = tuple(n for n in NOVELS if n != VALIDATION_NOVEL)
SHA256 = {
    "emma": "dd08b340a56ad4a0a00718d5682528a5a5886ae0aef91c9e0fa528074fa64b75",
    "mansfieldpark": "e0e9ef3863ea77f51f6070062ee0dd50ad9b933223880617629e4e4963ea40ff",
    "northangerabbey": "8618a5acf5be50cc6e9b7680c7469fb6012649ab08c709dfc63c6367989fd31d",
    "persuasion": "726513a6c18bb678427bcbcf7c72d0d20816a67c25b0471b26ddcabf3ebac140",
    "prideprejudice": "2e44edaa4946d64ad541c68e0224f5d672f43bf3ce2a8a0b0637ad5e02fc6eb3",
    "sensesensibility": "0996d90842bbe8093f3b8142c1e77d1b20cff52d1d0615f3ed67733653e74e26",
}

_HEADING = re.compile(r"^\s*(chapter\s+[0-9ivxlc]+\.?|volume\s+[ivx]+)\s*$", re.IGNORECASE)
_END_MARK = re.compile(r"^\s*(the end|finis)\s*$", re.IGNORECASE)


@cache
def raw_text(novel: str) -> str:
    """The novel's source text exactly as published (verified against its sha256)."""
    from convdiv.errors import ConvdivError

    if novel not in SHA256:
        raise ConvdivError(f"unknown novel {novel!r}: expected one of {', '.join(NOVELS)}")
    path = DATA_DIR / f"{novel}.txt.xz"
    try:
        data = lzma.decompress(path.read_bytes())
    except (OSError, lzma.LZMAError) as exc:
        raise ConvdivError(f"bundled corpus file {path} unreadable: {exc}") from None
    if hashlib.sha256(data).hexdigest() != SHA256[novel]:
        raise ConvdivError(f"bundled corpus file {path} does not match its recorded sha256 (reinstall convdiv)")
    return data.decode("utf-8")


def chapters(novel: str) -> list[str]:
    """The novel's chapters as documents (paragraphs unwrapped, separated by blank lines)."""
    docs: list[list[str]] = []
    paragraph: list[str] = []
    current: list[str] | None = None  # None until the first chapter heading: skips the title page

    def flush() -> None:
        if paragraph and current is not None:
            current.append(" ".join(paragraph))
        paragraph.clear()

    for line in raw_text(novel).splitlines():
        if _HEADING.match(line):
            flush()
            if line.strip().lower().startswith("chapter"):
                current = []
                docs.append(current)
            continue
        if _END_MARK.match(line):
            flush()
            break
        if line.strip():
            paragraph.append(" ".join(line.split()))
        else:
            flush()
    flush()
    return ["\n\n".join(paras) for paras in docs if paras]


def training_documents() -> list[str]:
    """Every chapter of the five training novels, novel by novel."""
    return [doc for novel in TRAINING_NOVELS for doc in chapters(novel)]


def validation_documents() -> list[str]:
    """Every chapter of the held-out novel (Persuasion)."""
    return chapters(VALIDATION_NOVEL)

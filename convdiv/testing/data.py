"""Unpack a checked-in fixture folder (the repository's ``tests/data/``) into a scratch folder.

Large fixtures are kept xz-compressed in git; the folder's ``SHA256SUMS`` (``sha256sum`` format, paths relative to
the folder) records the sha256 of each file *as used*, that is after decompression, so a fixture that was re-encoded
or edited by accident fails loudly instead of changing what a test means.
"""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path


class FixtureError(RuntimeError):
    """A fixture file is missing or does not match its recorded sha256."""


def recorded_sha256(folder: Path) -> dict[str, str]:
    """``relative path -> sha256`` from ``folder/SHA256SUMS``."""
    sums = {}
    for line in (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def unpack(folder: Path, name: str, dest: Path) -> Path:
    """Write the fixture `name` (a file or a sub-folder of `folder`, relative path) under `dest`, decompressing
    ``*.xz`` files and checking every file against ``SHA256SUMS``; returns ``dest / name``."""
    sums = recorded_sha256(folder)
    wanted = sorted(rel for rel in sums if rel == name or rel.startswith(name.rstrip("/") + "/"))
    if not wanted:
        raise FixtureError(f"{folder / 'SHA256SUMS'} lists no fixture {name!r}")
    for rel in wanted:
        plain, packed = folder / rel, folder / f"{rel}.xz"
        if plain.exists():
            data = plain.read_bytes()
        elif packed.exists():
            data = lzma.decompress(packed.read_bytes())
        else:
            raise FixtureError(f"fixture file {plain} (or {packed.name}) is missing")
        if hashlib.sha256(data).hexdigest() != sums[rel]:
            raise FixtureError(f"fixture file {rel} does not match its sha256 in {folder / 'SHA256SUMS'}")
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return dest / name

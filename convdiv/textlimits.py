"""Bounds on what users name and on what errors list: names have a documented maximum length, lists are cut.

A name (corpus, suite, role) is stored as text and echoed in messages and reports: a 5,000-character name made
5 kB error lines. :data:`MAX_NAME_LENGTH` is 63, PostgreSQL's own identifier limit (NAMEDATALEN - 1), so every
name convdiv stores could also be a role or schema name. Lists in errors show :data:`FEW` entries and a count.
"""

from __future__ import annotations

from collections.abc import Iterable

from convdiv.errors import ConvdivError

MAX_NAME_LENGTH = 63
FEW = 5


def first_few(items: Iterable[object], few: int = FEW) -> str:
    """``a, b, c`` for a short list, ``a, b, c, d, e and 12 more`` for a long one (each item cut to 80 chars)."""
    texts = [str(i) for i in items]
    shown = ", ".join(t if len(t) <= 80 else t[:77] + "..." for t in texts[:few])
    return shown + (f" and {len(texts) - few} more" if len(texts) > few else "")


def shown(name: str, limit: int = 60) -> str:
    """``repr(name)``, cut to about ``limit`` characters with its length said when longer (for error lines)."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}... ({len(name):,} characters)"


def check_name(name: str, what: str, option: str) -> None:
    """Refuse an empty name, or one longer than :data:`MAX_NAME_LENGTH` characters, in one line naming ``option``."""
    if not name.strip():
        raise ConvdivError(f"{option}: the {what} name is empty: give a name")
    if len(name) > MAX_NAME_LENGTH:
        raise ConvdivError(
            f"{option}: the {what} name {name[:20]!r}... has {len(name):,} characters: give at most {MAX_NAME_LENGTH}"
        )

"""What the analyst documentation (``docs/sql.md``) promises, read back so tests can hold the code to it."""

from __future__ import annotations

import re
from pathlib import Path


def documented_views(doc: Path) -> dict[str, list[str]]:
    """The views of `doc` (the table under "## Views") with the columns listed under each ``### view``."""
    text = doc.read_text(encoding="utf-8")
    table = text.split("## Views", 1)[1].split("\n\n", 2)[1]
    names = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    views = {}
    for name in names:
        # a view's section is headed `### name`, or `#### name` inside a section that groups several views
        body = re.split(rf"\n####? {name}\n", text, maxsplit=1)[1].split("\n\n", 1)[0]
        listing = _drop_parentheses(body.replace("\n", " ")).split(".")[0]  # prose may follow the list
        views[name] = [c.strip() for c in listing.split(",")]
    return views


def _drop_parentheses(s: str) -> str:
    out, depth = [], 0
    for ch in s:
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")"
    return "".join(out)

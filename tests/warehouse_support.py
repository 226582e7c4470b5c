"""A small real warehouse shared by the API, export and JSON-output tests: the tiny random-init suite, a
spaCy-tagged Austen corpus and a real ingest (seed pairs and consecutive steps), built once per test module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

import ingest_support as S
from conftest import create_database, drop_database
from convdiv.config import Settings
from convdiv.warehouse import schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "sql.md"
CONVDIV = [sys.executable, "-m", "convdiv"]


def build_small_warehouse(tmp_path_factory):
    """(database URL, suite root): migrated, one corpus, every unit of the tiny suite ingested."""
    from convdiv.extract.ingest import ingest

    url = create_database("convdiv_api")
    engine = sa.create_engine(url)
    try:
        schema.upgrade(engine)
        suite_root = S.shared_suite(tmp_path_factory)
        S.add_tiny_corpus(engine, suite_root)
        settings = Settings.from_env(database_url=url, data_dir=tmp_path_factory.mktemp("data"))
        ingest(engine, settings, str(suite_root), S.CORPUS, comparisons="seed_pairs,consecutive_steps",
               progress=False)
    except BaseException:
        engine.dispose()
        drop_database(url)
        raise
    engine.dispose()
    return url, suite_root


def documented_views() -> dict[str, list[str]]:
    """docs/sql.md's views (the table under "## Views") with the columns listed under each `### view`."""
    text = DOC.read_text()
    table = text.split("## Views", 1)[1].split("\n\n", 2)[1]
    names = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    views = {}
    for name in names:
        body = text.split(f"\n### {name}\n", 1)[1].split("\n\n", 1)[0]
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


def run_cli(args, db_url: str | None, *, data_dir: Path | None = None, timeout: float = 300, **kw):
    """convdiv as a subprocess with stdin/stdout/stderr not terminals (as in a batch log)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONVDIV_TEST_SERVER"}}
    if db_url:
        env["DATABASE_URL"] = db_url
    if data_dir:
        env["CONVDIV_DATA_DIR"] = str(data_dir)
    env.update(kw.pop("env", {}))
    return subprocess.run([*CONVDIV, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)

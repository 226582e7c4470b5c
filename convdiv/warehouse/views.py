"""The analytics layer's SQL files: find them, order them, read a given version, create, replace and drop them.

Live files. Each database object of the analytics layer (view, materialised view, function) lives in one file
``sql/<layer>/<name>.sql`` (in the package: ``convdiv/warehouse/analytics``, a link to the top-level ``sql/``). The
layers, lowest first (``LAYERS``; each folder's README.md says the same):

- ``base``: settings, helper functions and the dimension views every other layer joins (convdiv_setting,
  checkpoint_info, comparison_group_member, ...);
- ``records``: the flat record views over the fact tables (token_records, pair_records, regression_inputs);
- ``compute``: the ``compute_*`` functions that compute the maintained aggregates from the facts;
- ``upkeep``: the functions that keep the aggregate tables current (maintain_aggregates at publish,
  rebuild_aggregates, check_aggregates, the cascade_aggregates trigger function);
- ``views``: the views analysts and the report read, with the per-suite functions that are their bodies.

Order, stated once: an object depends on every other object its file names outside comments (``dependencies``);
``creation_order()`` sorts them so that dependencies come first (ties broken by layer, then name). A cycle is an
error. Nothing else lists the objects: a migration that needs them all calls ``creation_order(as_of=revision)``.

Frozen files. Every version of an object that a migration loads is frozen beside the migrations, in
``migrations/sql/<name>@<revision>.sql`` (``FROZEN_DIR``), and hash-pinned with them in ``migrations/RELEASED.sha256``.
``read(name, as_of=R)`` is the frozen file of the latest revision <= R that froze ``name``; there is no fallback to
the live file (none frozen at or before R is a ConvdivError). The live file of each object equals its latest frozen
version (tests/test_views_files.py), so upgrading an old warehouse and creating a fresh one give the same objects,
and a downgrade restores the previous version. ``read(name)`` without ``as_of`` is the live file.

A new migration ``00NN`` that changes ``expected_kl``:

1. edit ``sql/views/expected_kl.sql`` and copy it to ``migrations/sql/expected_kl@00NN.sql``;
2. upgrade: ``views.replace(op.get_bind(), "expected_kl", as_of=revision)`` (its dependants are dropped and
   re-created at the same revision; ``views.create`` alone when ``CREATE OR REPLACE`` can change it in place);
3. downgrade: ``views.replace(op.get_bind(), "expected_kl", as_of=down_revision)`` (the version frozen before);
4. release it: add the sha256 lines of the migration and of the frozen file to ``migrations/RELEASED.sha256``.

A new object is the same with ``views.create`` in the upgrade and ``views.drop`` in the downgrade.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from pathlib import Path

from convdiv.errors import ConvdivError
from convdiv.warehouse.queries import WAREHOUSE as Q
from convdiv.warehouse.schema import FROZEN_DIR, SQL_DIR

LAYERS = ("base", "records", "compute", "upkeep", "views")
_NAME = re.compile(r"^[a-z0-9_]+$")
_FROZEN_NAME = re.compile(r"^([a-z0-9_]+)@(\d{4})$")
_CREATE = re.compile(
    r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(MATERIALIZED\s+VIEW|VIEW|FUNCTION)\s+([a-z0-9_]+)", re.IGNORECASE
)


@dataclass(frozen=True)
class SqlObject:
    """One object of the analytics layer as its live file declares it."""

    name: str
    kind: str  # 'view', 'materialized view' or 'function'
    path: Path
    layer: str

    @property
    def file(self) -> str:
        """The file as the repository names it: ``sql/views/expected_kl.sql``."""
        return f"sql/{self.layer}/{self.path.name}"


def _kind_of(text: str, path: Path, name: str) -> str:
    match = _CREATE.search(_strip_comments(text))
    if match is None:
        raise ConvdivError(f"{path}: no CREATE VIEW / MATERIALIZED VIEW / FUNCTION statement found")
    if match.group(2).lower() != name:
        raise ConvdivError(f"{path}: creates {match.group(2)}, but the file is named for another object")
    return " ".join(match.group(1).lower().split())


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in text.splitlines())


def _live_files(sql_dir: Path) -> dict[str, tuple[str, Path]]:
    """name -> (layer, path) of every live file; a file outside the layers or named twice is an error."""
    found: dict[str, tuple[str, Path]] = {}
    for path in sorted(sql_dir.rglob("*.sql")):
        layer = path.parent.relative_to(sql_dir).as_posix()
        if layer not in LAYERS or not _NAME.match(path.stem):
            raise ConvdivError(f"{path}: analytics SQL files are named sql/<layer>/<object>.sql, layer one of {LAYERS}")
        if path.stem in found:
            raise ConvdivError(f"{path}: {path.stem} also has {found[path.stem][1]}; keep one file per object")
        found[path.stem] = (layer, path)
    return found


def dependencies(texts: dict[str, str]) -> dict[str, set[str]]:
    """name -> the other objects of ``texts`` its SQL names outside comments."""
    words = {name: set(re.findall(r"[a-z_][a-z0-9_]*", _strip_comments(text).lower())) for name, text in texts.items()}
    return {name: (found & texts.keys()) - {name} for name, found in words.items()}


def _rank(name: str, layers: dict[str, str]) -> tuple[int, str]:
    layer = layers.get(name)
    return (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), name)


def ordered(texts: dict[str, str], layers: dict[str, str] | None = None) -> list[str]:
    """The names of ``texts`` with every object after the objects it names (ties: by layer, then name)."""
    layers = layers or {}
    needs = dependencies(texts)
    waiting = {name: len(deps) for name, deps in needs.items()}
    users: dict[str, list[str]] = {name: [] for name in texts}
    for name, deps in needs.items():
        for dep in deps:
            users[dep].append(name)
    ready = [_rank(name, layers) for name, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        out.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, _rank(user, layers))
    if len(out) < len(texts):
        cycle = sorted(set(texts) - set(out))
        raise ConvdivError(f"the analytics SQL files name each other in a cycle among {cycle}; break it")
    return out


def objects(sql_dir: Path = SQL_DIR) -> list[SqlObject]:
    """Every object of ``sql/``, in creation order (dependencies first)."""
    files = _live_files(sql_dir)
    texts = {name: path.read_text("utf-8") for name, (_, path) in files.items()}
    layers = {name: layer for name, (layer, _) in files.items()}
    return [
        SqlObject(name, _kind_of(texts[name], files[name][1], name), files[name][1], layers[name])
        for name in ordered(texts, layers)
    ]


def creation_order(as_of: str | None = None) -> list[str]:
    """The names of the analytics layer in creation order: the live files' (``as_of=None``), or those of the objects
    frozen at or before revision ``as_of`` that are still live, ordered by their versions at ``as_of``. A migration
    calls this instead of copying the list."""
    if as_of is None:
        return [o.name for o in objects()]
    names = [n for n in _live_files(SQL_DIR) if frozen_revisions(n, as_of)]
    return ordered({n: read(n, as_of) for n in names}, {n: o.layer for n, o in _by_name().items()})


def _by_name() -> dict[str, SqlObject]:
    return {o.name: o for o in objects()}


def get(name: str, sql_dir: Path = SQL_DIR) -> SqlObject:
    for obj in objects(sql_dir):
        if obj.name == name:
            return obj
    raise ConvdivError(f"no SQL file for {name!r} in {sql_dir}")


def frozen_revisions(name: str, as_of: str | None = None, frozen_dir: Path = FROZEN_DIR) -> list[str]:
    """The revisions that froze a version of ``name``, oldest first (only those <= ``as_of`` when given)."""
    revisions = []
    for path in frozen_dir.glob(f"{name}@*.sql"):
        match = _FROZEN_NAME.match(path.stem)
        if match is None:  # revisions compare as text: four digits keep that order numeric
            raise ConvdivError(f"{path}: frozen SQL files are named <object>@<four-digit revision>.sql")
        if match.group(1) == name and (as_of is None or match.group(2) <= as_of):
            revisions.append(match.group(2))
    return sorted(revisions)


def read(name: str, as_of: str | None = None, sql_dir: Path = SQL_DIR, frozen_dir: Path = FROZEN_DIR) -> str:
    """The SQL text of ``name`` as migration ``as_of`` loads it: the frozen file of the latest revision <= ``as_of``
    (none is an error, never the live file). Without ``as_of``: the live file."""
    if as_of is None:
        return get(name, sql_dir).path.read_text("utf-8")
    revisions = frozen_revisions(name, as_of, frozen_dir)
    if not revisions:
        raise ConvdivError(
            f"no frozen SQL of {name!r} at or before revision {as_of} in {frozen_dir}: "
            f"freeze the version that migration loads as {name}@{as_of}.sql"
        )
    return (frozen_dir / f"{name}@{revisions[-1]}.sql").read_text("utf-8")


def execute_script(connection, sql: str) -> None:
    """Run a whole SQL file on a SQLAlchemy connection, in its transaction.

    Straight through the driver's cursor with no parameters: psycopg then sends the text as one simple query (several
    statements allowed) and does not read the '%' of comments as placeholders.
    """
    with connection.connection.cursor() as cursor:
        cursor.execute(sql)


def create(connection, name: str, as_of: str | None = None) -> None:
    """Run the file of ``name`` (its CREATE statement and any indexes) on a SQLAlchemy connection, then document
    the object from the file's header (``\\d+ expected_kl`` shows it)."""
    text = read(name, as_of)
    execute_script(connection, text)
    comment(connection, name, text)


@dataclass(frozen=True)
class Header:
    """What a file's header comment says: the object's description and one per documented column."""

    description: str
    columns: dict[str, str]


_ENTRY = re.compile(r"^--   (\S.*?)(?: {2,}(\S.*))?$")
_CONTINUED = re.compile(r"^-- {4,}(\S.*)$")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def header(text: str) -> Header:
    """Parse the header convention of the analytics files: a first line ``-- name: summary``, description lines, then
    ``-- Columns:`` (or ``-- Columns (as table x):``) with ``--   col[, col]   description`` entries whose
    description may continue on more-indented lines. Columns listed without a description get none."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.rstrip())
    described: list[str] = []
    columns: dict[str, str] = {}
    in_columns = False
    current: list[str] = []
    names: list[str] = []

    def flush() -> None:
        if names and current:
            for col in names:
                columns[col] = " ".join(current)

    for line in lines:
        if line.startswith("-- Columns"):
            in_columns = True
            continue
        if not in_columns:
            body = line[2:].strip()
            if body:
                described.append(body)
            continue
        continued = _CONTINUED.match(line)
        entry = _ENTRY.match(line)
        if continued and current:
            current.append(continued.group(1))
        elif entry:
            flush()
            candidates = [re.sub(r"\s*\([^)]*\)", "", n).strip() for n in entry.group(1).split(",")]
            names = [n for n in candidates if _IDENTIFIER.match(n)]
            if len(names) != len(candidates):  # a line of prose after the column list, not an entry
                names, current, in_columns = [], [], False
                described.append(line[2:].strip())
                continue
            current = [entry.group(2)] if entry.group(2) else []
        else:
            flush()
            names, current, in_columns = [], [], False
            if line[2:].strip():
                described.append(line[2:].strip())
    flush()
    if described:  # the first line names the object: "expected_kl: ..." / "compute_x(ids, corpus_id): ..."
        described[0] = re.sub(r"^[a-z0-9_]+(\([^)]*\))?: ", "", described[0])
    return Header(" ".join(described), columns)


def comment(connection, name: str, text: str | None = None) -> None:
    """COMMENT ON the view (or function) ``name`` and its columns from the header of its file (``text``: the
    version just created; default the live file). Columns the header documents but the object lacks are skipped."""
    head = header(text if text is not None else read(name))
    kind = _kind_in_database(connection, name)
    if kind == "FUNCTION":
        for signature in connection.exec_driver_sql(Q["analytics_function_signatures"], {"name": name}).scalars():
            execute_script(connection, f"COMMENT ON FUNCTION {signature} IS {_literal(head.description)}")
        return
    if kind is None:
        return
    execute_script(connection, f"COMMENT ON {kind} {name} IS {_literal(head.description)}")
    present = set(connection.exec_driver_sql(Q["relation_columns"], {"name": name}).scalars())
    for column, description in head.columns.items():
        if column in present:
            execute_script(connection, f"COMMENT ON COLUMN {name}.{column} IS {_literal(description)}")


def _kind_in_database(connection, name: str) -> str | None:
    return connection.exec_driver_sql(Q["analytics_object_kind"], {"name": name}).scalar()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def drop(connection, name: str) -> None:
    """Drop ``name`` as whatever kind it is in the database (a migration may have changed its kind: a materialised
    view at 0002 is a table-backed view later); dependants must be dropped first (no CASCADE: a forgotten dependant
    should fail loudly). Nothing happens when it does not exist."""
    kind = _kind_in_database(connection, name)
    if kind is not None:
        # one-line DDL built here: the kind is known only from the catalog, the name is an analytics object's
        connection.exec_driver_sql(f"DROP {kind} IF EXISTS {name}")


def dependants(connection, name: str, as_of: str | None = None) -> list[str]:
    """The objects in the database that use ``name``, directly or through others, in creation order: their versions
    at ``as_of`` (the live files without it) say what they use."""
    existing = set(connection.exec_driver_sql(Q["analytics_existing_objects"]).scalars())
    if as_of is None:
        candidates = [n for n in _live_files(SQL_DIR) if n in existing]
    else:
        candidates = [n for n in existing if frozen_revisions(n, as_of)]
    texts = {n: read(n, as_of) for n in {*candidates, name}}
    needs = dependencies(texts)
    using = {name}
    order = ordered(texts, {n: o.layer for n, o in _by_name().items()})
    for other in order:  # dependencies come first, so one pass finds every indirect user
        if needs[other] & using:
            using.add(other)
    return [n for n in order if n in using and n != name]


def replace(connection, name: str, as_of: str | None = None) -> list[str]:
    """Re-create ``name`` from its ``as_of`` version, with every object that uses it, at the same revision.

    A view's columns cannot change in place and a materialised view cannot be replaced at all, so the dependants are
    dropped (users first) and re-created from their versions at ``as_of`` (the live files without it). Returns the
    names re-created, in order.
    """
    later = dependants(connection, name, as_of)
    for other in reversed(later):
        drop(connection, other)
    drop(connection, name)
    create(connection, name, as_of)
    for other in later:
        create(connection, other, as_of)
    return [name, *later]

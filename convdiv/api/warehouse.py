"""``Warehouse``: one open warehouse (engine, and the embedded server held for the object's life) read into pandas.

Views are read only through SQL by name (``SELECT ... FROM <view> WHERE ...``), so the API keeps working when a
view's definition changes as long as its name and columns stay (docs/sql.md documents both).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy.engine import Engine

from convdiv.config import Settings
from convdiv.errors import ConvdivError
from convdiv.textlimits import first_few, shown
from convdiv.warehouse import names, queries

Q = queries.beside(__file__)  # api/sql/

# Warehouse.suites(): the columns of the suite_summary view it has always shown.
SUITE_COLUMNS = (
    "suite_id",
    "suite",
    "source",
    "tokenizer",
    "sizes",
    "seeds",
    "steps",
    "n_checkpoints",
    "corpora",
    "created_at",
)

# The analysis views of docs/sql.md ("## Views"), from their one home; tests/test_api.py checks this list against
# that page.
DOCUMENTED_VIEWS: tuple[str, ...] = names.ANALYST_VIEWS


def connect(url: str | None = None, data_dir: str | Path | None = None) -> Warehouse:
    """Open the warehouse: ``url`` (any PostgreSQL URL, ``postgresql://`` or ``postgresql+psycopg://``), else
    ``DATABASE_URL``, else the embedded server under ``data_dir`` (or ``CONVDIV_DATA_DIR``, or the default data
    dir), which stays up until ``close()`` (or the end of a ``with`` block, or of the process).

    Raises ConvdivError (one line) when the server cannot be reached or its schema is not at this convdiv's head.
    """
    from convdiv.warehouse import embedded, schema
    from convdiv.warehouse.engine import open_engine

    settings = Settings.from_env(database_url=url, data_dir=data_dir)
    hold = None
    if settings.database_url:
        target = settings.database_url
    else:
        hold = embedded.hold(settings.pgdata)
        target = hold.url
    try:
        engine = open_engine(target)
        try:
            schema.require_current(engine)
        except BaseException:
            engine.dispose()
            raise
    except BaseException:
        if hold is not None:
            hold.release()
        raise
    return Warehouse(engine, hold)


def _close(engine: Engine, hold) -> None:
    # Connections first: the embedded server's clean stop would otherwise wait for them.
    engine.dispose()
    if hold is not None:
        hold.release()


class Warehouse:
    """An open warehouse. Use ``convdiv.connect()``; close it (or use ``with``) to let the embedded server stop."""

    def __init__(self, engine: Engine, hold=None):
        self.engine = engine
        self._hold = hold
        self._columns: dict[str, list[str]] = {}
        # Released at close(), at garbage collection or at exit, whichever comes first.
        self._finalizer = weakref.finalize(self, _close, engine, hold)

    # ------------------------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """A libpq URL (password masked) for psql, pandas (with ``postgresql+psycopg://``) or DuckDB, valid while
        this object is open."""
        from convdiv.warehouse.engine import libpq_url

        if self._hold is not None:
            return self._hold.libpq_url
        return libpq_url(self.engine.url)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Dispose of the connections and release the embedded server (idempotent)."""
        self._finalizer()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<convdiv.Warehouse {self.url} ({state})>"

    # ------------------------------------------------------------------------------------------- reads

    def views(self) -> list[str]:
        """The documented analysis views (docs/sql.md); ``view`` also reads helper views and tables by name."""
        return list(DOCUMENTED_VIEWS)

    def columns(self, name: str) -> list[str]:
        """The columns of view (or table) ``name``, in order."""
        if name not in self._columns:
            with self._connect() as conn:
                cols = list(conn.exec_driver_sql(queries.WAREHOUSE["relation_columns"], {"name": name}).scalars())
            if not cols:
                raise ConvdivError(
                    f"no view or table named {name!r} in the warehouse; documented views: {', '.join(DOCUMENTED_VIEWS)}"
                )
            self._columns[name] = cols
        return self._columns[name]

    def view(
        self, name: str, *, columns: Iterable[str] | None = None, limit: int | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Rows of view ``name`` as a DataFrame, filtered in SQL by equality on its columns.

        A filter value may be a scalar (``kind="seed_pair"``), a list/tuple/set of values (``step=[16, 256]``,
        any of them) or None (IS NULL). ``columns`` selects columns (default: all, in the view's order); ``limit``
        caps the rows. Unknown views, columns and filters raise ConvdivError naming the valid ones.
        """
        known = self.columns(name)
        wanted = list(columns) if columns is not None else known
        unknown = [c for c in [*wanted, *filters] if c not in known]
        if unknown:
            raise ConvdivError(f"view {name} has no column {shown(unknown[0])}; its columns: {first_few(known, 12)}")
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ConvdivError(f"limit must be a non-negative integer, got {limit!r}")
        where: list[pgsql.Composable] = []
        params: dict[str, Any] = {}
        for i, (column, value) in enumerate(filters.items()):
            key = f"p{i}"
            if value is None:
                where.append(pgsql.SQL("{} IS NULL").format(pgsql.Identifier(column)))
            elif _is_collection(value):
                where.append(pgsql.SQL("{} = ANY({})").format(pgsql.Identifier(column), pgsql.Placeholder(key)))
                params[key] = [_plain(v) for v in value]
            else:
                where.append(pgsql.SQL("{} = {}").format(pgsql.Identifier(column), pgsql.Placeholder(key)))
                params[key] = _plain(value)
        if limit is not None:
            params["limit"] = int(limit)
        statement = pgsql.SQL(Q["view_rows"]).format(
            columns=pgsql.SQL(", ").join(map(pgsql.Identifier, wanted)),
            view=pgsql.Identifier(name),
            where=pgsql.SQL(" WHERE ") + pgsql.SQL(" AND ").join(where) if where else pgsql.SQL(""),
            limit=pgsql.SQL(" LIMIT {}").format(pgsql.Placeholder("limit")) if limit is not None else pgsql.SQL(""),
        )
        return self._read(statement.as_string(), params, what=f"view {name}")

    def query(self, sql: str, **params: Any) -> pd.DataFrame:
        """Any SQL as a DataFrame, with ``:name`` parameters bound from keyword arguments (never formatted in)."""
        return self._read(sa.text(sql), {k: _plain(v) for k, v in params.items()}, what="query")

    def suites(self) -> pd.DataFrame:
        """One row per suite: source, sizes, seeds, steps, checkpoints and the corpora ingested on it."""
        return self.view(names.SUITE_SUMMARY, columns=SUITE_COLUMNS).sort_values("suite", ignore_index=True)

    def corpora(self) -> pd.DataFrame:
        """One row per corpus: tokenizer, documents, positions, frequency source, spaCy model, created."""
        from convdiv.corpus.load import Q as corpus_queries

        return self._read(corpus_queries["list_corpora"], {}, what="corpora")

    # ------------------------------------------------------------------------------------------- helpers

    def _connect(self):
        if self.closed:
            raise ConvdivError("this warehouse is closed; open it again with convdiv.connect()")
        return self.engine.connect()

    def _read(self, statement, params: Mapping[str, Any], *, what: str) -> pd.DataFrame:
        with self._connect() as conn:
            try:
                return pd.read_sql(statement, conn, params=dict(params))
            except (sa.exc.DBAPIError, pd.errors.DatabaseError) as exc:
                # pandas wraps the driver's error; its first line names the fault (relation, column, syntax)
                cause = exc if isinstance(exc, sa.exc.DBAPIError) else exc.__cause__
                orig = getattr(cause, "orig", None) or cause or exc
                raise ConvdivError(f"{what} failed: {str(orig).strip().splitlines()[0]}") from None


def _is_collection(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, range)) or (
        hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1
    )


def _plain(value: Any) -> Any:
    """numpy scalars (from a DataFrame) -> Python values, which the driver adapts."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:
        return value.tolist()
    return value

"""What every CLI command receives: settings, and the warehouse engine on demand.

Kept apart from the ``convdiv.cli`` package so stage command modules can import it without importing the CLI itself
(a layer below the stages: tests/test_layout.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from convdiv.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Context:
    """What every command gets: settings, and the warehouse engine on demand."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._engine: Engine | None = None

    def engine(self, *, check_schema: bool = True) -> Engine:
        from convdiv.warehouse import schema
        from convdiv.warehouse.engine import get_engine

        if self._engine is None:
            self._engine = get_engine(self.settings)
        if check_schema:
            schema.require_current(self._engine)
        return self._engine


pass_context = click.make_pass_decorator(Context)

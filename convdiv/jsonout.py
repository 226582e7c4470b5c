"""``--json`` output: one JSON document on stdout, values made plain (times as ISO 8601, paths as strings).

Machine-readable output keeps to stdout alone; progress, notes and warnings stay on stderr, so
``convdiv corpus list --json | jq`` always parses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math
from pathlib import Path
from typing import Any

import click


def plain(value: Any) -> Any:
    """``value`` with every part JSON can't hold turned into what it means (NaN/inf -> null)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        return plain(value.item())
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    return value


def echo_json(value: Any) -> None:
    click.echo(json.dumps(plain(value), indent=2, allow_nan=False))

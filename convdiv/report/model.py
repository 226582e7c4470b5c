"""Typed results of the report: what a section computed, before any HTML is written."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go


class Missing(Exception):
    """A section cannot be drawn because data is absent; the message says what is missing and how to add it."""


@dataclass
class Figure:
    key: str  # unique within the report; becomes the div id and the CSV file name
    figure: go.Figure | dict  # a dict is a plotly JSON figure assembled without validation (figures.py)
    data: pd.DataFrame  # the plotted numbers, offered as CSV
    caption: str = ""


@dataclass
class Table:
    key: str
    title: str
    frame: pd.DataFrame
    caption: str = ""
    # Tables offered behind a <select> (e.g. the regression's coefficient table per step): label -> frame.
    choices: dict[str, pd.DataFrame] | None = None
    default_choice: str | None = None
    float_format: str = "{:.4g}"


@dataclass
class Section:
    key: str
    title: str
    guide: str = ""
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: str | None = None  # set when the section is omitted; says why
    error: str | None = None  # an unexpected failure while computing the section
    seconds: float = 0.0

"""Build the report: resolve the scope, compute every section (timed), render one self-contained HTML file.

Self-contained means: plotly.js is inlined once (``plotly.offline.get_plotlyjs()``, about 4.8 MB), each figure is
an inline JSON document drawn by ``Plotly.newPlot``, and each CSV is embedded (gzip, base64) and turned into a
download by the page itself (``DecompressionStream``, a Blob), so the file makes no network request. A section whose data is missing says so instead of failing.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from sqlalchemy.engine import Engine
from threadpoolctl import threadpool_limits

from convdiv import __version__, progress
from convdiv.errors import ConvdivError
from convdiv.report.data import Options, ReportData, Scope, resolve_scope
from convdiv.report.model import Missing, Section
from convdiv.report.sections import SECTIONS
from convdiv.warehouse import schema

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class ReportResult:
    path: Path
    sections: list[Section]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # section key -> seconds (+ 'render', 'total')
    scope: Scope | None = None

    @property
    def errors(self) -> dict[str, str]:
        return {s.key: s.error for s in self.sections if s.error}


def _script_json(obj) -> str:
    """JSON safe inside a <script> element: '</' cannot close it, and U+2028/9 cannot break the JS parser."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# The numbers embedded in the page carry float32's precision, the facts' own (real columns): 7 significant digits in
# the CSVs, float32 typed arrays in the figures. More digits would only say more than the data holds; with them and
# the CSVs as plain text the full demo's report was 7.9 MB (issue 20 keeps it under 7 MB).
CSV_FLOAT = "%.7g"
PLOT_ARRAYS = ("x", "y", "z", "customdata")


def _embedded_csv(key: str, frame: pd.DataFrame) -> dict[str, str]:
    """The CSV of ``frame`` as the page embeds it: gzip (no timestamp: the same data gives the same page), base64."""
    text = frame.to_csv(index=False, float_format=CSV_FLOAT)
    packed = gzip.compress(text.encode("utf-8"), mtime=0)
    return {"name": f"{key}.csv", "gz": base64.b64encode(packed).decode("ascii")}


def _float32_arrays(figure):
    """``figure`` with its traces' float64 arrays (x, y, z, customdata) as float32 (a copy; the original untouched)."""
    out = go.Figure(figure)
    for trace in out.data:
        for key in PLOT_ARRAYS:
            value = getattr(trace, key, None)
            if isinstance(value, np.ndarray) and value.dtype == np.float64:
                trace[key] = value.astype(np.float32)
    return out


def _format_cell(value, float_format: str) -> tuple[str, bool]:
    """(text, is_number): numbers are right-aligned, whole floats (counts read as numeric) shown as integers."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "", False
    if isinstance(value, (bool, np.bool_)):
        return ("yes" if value else "no"), False
    if isinstance(value, (int, np.integer)):
        whole = int(value)
        return f"{whole:,}" if abs(whole) >= 10_000 else str(whole), True
    if isinstance(value, (float, np.floating)):
        real = float(value)
        if real.is_integer() and abs(real) < 1e15:
            return _format_cell(int(value), float_format)
        return float_format.format(value), True
    return str(value), False


# Identifiers and steps are labels, not quantities: no thousands separators.
PLAIN_COLUMNS = ("step", "step_a", "step_b", "seed", "seed_a", "seed_b", "token_id", "ingest_run_id", "comparison_id")


def _table_rows(frame: pd.DataFrame, float_format: str) -> list[list[tuple[str, bool]]]:
    plain = [c in PLAIN_COLUMNS or c.endswith("_step") for c in frame.columns]
    return [
        [
            (str(int(v)), True)
            if p and isinstance(v, (int, np.integer, float, np.floating)) and pd.notna(v)
            else _format_cell(v, float_format)
            for v, p in zip(row, plain)
        ]
        for row in frame.itertuples(index=False)
    ]


# plotly's default height, for a figure that sets none
DEFAULT_FIGURE_HEIGHT = 450


def figure_height(figure) -> int:
    """The figure's layout height in px: its container gets it as CSS height, so that a resize (plotly's
    ``responsive``) keeps it instead of shrinking the plot to the container's minimum."""
    layout = figure.get("layout", {}) if isinstance(figure, dict) else figure.layout.to_plotly_json()
    height = layout.get("height")
    return int(height) if height else DEFAULT_FIGURE_HEIGHT


def compute_sections(data: ReportData) -> list[Section]:
    out = []
    with progress.step("report: sections", total=len(SECTIONS), unit="sections") as bar:
        for module in SECTIONS:
            bar.note(module.KEY)
            start = time.perf_counter()
            try:
                section = module.build(data)
            except Missing as exc:
                section = Section(module.KEY, module.TITLE, module.GUIDE, missing=str(exc))
            except ConvdivError:
                raise
            # A section boundary: a bug in one section must not cost the user the others; it is shown and returned.
            except Exception as exc:  # noqa: BLE001 - see above
                section = Section(
                    module.KEY,
                    module.TITLE,
                    module.GUIDE,
                    error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}",
                )
            section.seconds = time.perf_counter() - start
            out.append(section)
            bar.advance()
    return out


def render(sections: list[Section], scope: Scope, warnings: list[str]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    figures, csvs, views = [], {}, []
    for sec in sections:
        sv: dict[str, Any] = {"section": sec, "figures": [], "tables": []}
        for fig in sec.figures:
            div = f"fig-{fig.key}"
            figures.append({"div": div, "json": _script_json(pio.to_json(_float32_arrays(fig.figure), validate=False))})
            csvs[fig.key] = _embedded_csv(fig.key, fig.data)
            sv["figures"].append(
                {
                    "div": div,
                    "key": fig.key,
                    "caption": fig.caption,
                    "rows": len(fig.data),
                    "height": figure_height(fig.figure),
                }
            )
        for tab in sec.tables:
            csvs[tab.key] = _embedded_csv(tab.key, tab.frame)
            choices = None
            if tab.choices:
                choices = [
                    {
                        "label": label,
                        "id": f"{tab.key}-{i}",
                        "columns": list(frame.columns),
                        "rows": _table_rows(frame, tab.float_format),
                    }
                    for i, (label, frame) in enumerate(tab.choices.items())
                ]
            sv["tables"].append(
                {
                    "table": tab,
                    "columns": list(tab.frame.columns),
                    "rows": _table_rows(tab.frame, tab.float_format),
                    "choices": choices,
                }
            )
        views.append(sv)
    return env.get_template("report.html").render(
        title=f"convdiv report: {scope.suite or 'no suite'} on {scope.corpus or 'no corpus'}",
        scope=scope,
        sections=views,
        warnings=warnings,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        plotlyjs=get_plotlyjs(),
        figures=figures,
        csvs=csvs,
    )


def build_report(
    engine: Engine,
    out: Path,
    *,
    suite: str | None = None,
    corpus: str | None = None,
    sizes: Sequence[str] | None = None,
    options: Options | None = None,
) -> ReportResult:
    """Write the HTML report of ``suite`` on ``corpus`` (defaults: the ingested ones) to ``out``."""
    t0 = time.perf_counter()
    out = Path(out)
    schema.require_current(engine)  # the report reads the views of this convdiv's schema, nothing older
    scope = resolve_scope(engine, suite, corpus, sizes)
    data = ReportData(engine, scope, options)
    # The regression's least squares are small (cells x ~100 columns); multi-threaded OpenBLAS spent ~25x longer
    # on them than one thread on the 2 shared cores measured (thread hand-off dominates such small problems).
    with threadpool_limits(limits=1, user_api="blas"):
        sections = compute_sections(data)
    warnings = list(scope.notes)
    for sec in sections:
        if sec.missing:
            warnings.append(f"{sec.title}: {sec.missing}")
        if sec.error:
            warnings.append(f"{sec.title}: failed: {sec.error.splitlines()[0]}")
        warnings.extend(f"{sec.title}: {n}" for n in sec.notes if n.startswith("warning"))
    t1 = time.perf_counter()
    text = render(sections, scope, warnings)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)  # never leave a half-written report under the final name
    except OSError as exc:
        raise ConvdivError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc
    t2 = time.perf_counter()
    timings = {s.key: s.seconds for s in sections}
    timings["render"] = t2 - t1
    timings["total"] = t2 - t0
    return ReportResult(path=out, sections=sections, warnings=warnings, timings=timings, scope=scope)

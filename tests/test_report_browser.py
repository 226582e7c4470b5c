"""The report in a real headless Chromium: every figure renders, nothing is fetched, nothing logs an error.

Needs Debian's chromium at /usr/bin/chromium (``apt-get install -y chromium``); in CI (CI=true) its absence is a
failure, locally a skip (the ``chromium`` fixture). The full-page screenshot is kept under ``artifacts/``
(gitignored).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from convdiv.report.build import build_report
from convdiv.report.sections import SECTIONS
from convdiv.testing.browser import open_report
from convdiv.testing.synthetic import build_synthetic_warehouse

pytestmark = pytest.mark.browser


def test_report_renders_offline_in_chromium(engine, chromium, artifacts, tmp_path):
    build_synthetic_warehouse(engine, n_positions=200)
    report = tmp_path / "report.html"
    result = build_report(engine, report)
    assert result.errors == {}
    expected_figures = {f.key: s.key for s in result.sections for f in s.figures}

    def check(page, errors, requests):
        # Every figure div became a plotly plot with drawn traces.
        for key, section in expected_figures.items():
            fig = page.locator(f"section#{section} div#fig-{key}")
            assert fig.locator(".main-svg").count() >= 1, key
            assert fig.evaluate("el => el.classList.contains('js-plotly-plot') && el.data.length > 0"), key
            traces = fig.locator("g.trace, g.hm, .heatmaplayer image, g.barlayer g.point").count()
            assert traces > 0, key
        # The three sections the study's slides had and the report lacked render with data.
        for section in ("relative-divergence-context", "learnability", "ce-fit-context"):
            sec = page.locator(f"section#{section}")
            assert sec.locator("div.missing-box, div.error-box").count() == 0, section
            assert sec.locator("div.figure .main-svg").count() >= 1, section
            # _fullData holds the decoded arrays (the spec may carry them base64-encoded)
            assert sec.locator("div.figure").first.evaluate(
                "el => el._fullData.some(t => t.visible === true && (t.z || t.x || []).length > 0)"
            ), section
        # Every multi-panel figure has one legend per panel and a y-axis title on every panel.
        for key in ("pos-pos_t", "frequency-bins", "ce-fit-scatter", "reference-curves", "regression-coefficients"):
            fig = page.locator(f"div#fig-{key}")
            n_axes = fig.evaluate("el => Object.keys(el.layout).filter(k => /^yaxis\\d*$/.test(k)).length")
            titled = fig.evaluate(
                "el => Object.keys(el.layout).filter(k => /^yaxis\\d*$/.test(k))"
                ".every(k => el.layout[k].title && el.layout[k].title.text)"
            )
            assert titled, key
            legends = fig.evaluate(
                "el => Array.from(el.querySelectorAll('g')).filter("
                "g => /^legend\\d*$/.test(g.getAttribute('class') || '')).length"
            )
            assert legends == n_axes, key
        # Tables fit the page: nothing makes the page scroll sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # The phase menu works: the study's lines add three shapes.
        conv = page.locator("div#fig-convergence-curve")
        before = conv.evaluate("el => el.layout.shapes.length")
        conv.locator(".updatemenu-button").nth(1).click()
        page.wait_for_timeout(300)
        assert conv.evaluate("el => el.layout.shapes.length") == before + 3
        # A CSV download is built in the page and holds the plotted numbers.
        with page.expect_download() as info:
            page.locator("section#convergence button.csv").first.click()
        download = info.value
        csv = pd.read_csv(io.StringIO(Path(download.path()).read_text()))
        assert download.suggested_filename == "convergence-curve.csv"
        assert len(csv) == len(result.sections[1].figures[0].data)
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        check_layout(page, expected_figures)
        assert errors == []
        # Only the file itself (and the in-page blob of the download) was requested.
        assert [u for u in requests if not u.startswith("blob:")] == [report.resolve().as_uri()]
        return True

    assert open_report(report, chromium, check)
    assert (artifacts / "report.png").stat().st_size > 50_000


def test_empty_report_renders_without_errors(engine, chromium, tmp_path):
    report = tmp_path / "empty.html"
    build_report(engine, report)

    def check(page, errors, requests):
        assert page.locator("div.missing-box").count() == len(SECTIONS)
        assert errors == []
        assert requests == [report.resolve().as_uri()]
        return True

    assert open_report(report, chromium, check)


# The rectangles of the figure's drawn parts, by CSS selector, in page coordinates.
RECTS = """(el, sel) => Array.from(el.querySelectorAll(sel)).map(e => e.getBoundingClientRect())
    .filter(r => r.width > 0 && r.height > 0).map(r => [r.left, r.top, r.right, r.bottom])"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_layout(page, figures: dict[str, str]) -> None:
    """Issue 20's layout: every figure keeps its own height through window resizes (plotly's responsive resize
    shrank them to the container's 300 px); a click in the sticky navigation leaves the section's heading visible
    below the navigation, also when the navigation wraps to more lines on a narrow window; a size dropdown never
    overlaps the plot's toolbar or its title."""

    def heights() -> dict[str, float]:
        return {
            key: page.locator(f"div#fig-{key}").evaluate("el => el.getBoundingClientRect().height") for key in figures
        }

    menus = 0
    for key in figures:
        fig = page.locator(f"div#fig-{key}")
        fig.hover()  # the toolbar shows on hover
        page.wait_for_timeout(250)
        buttons = fig.evaluate(RECTS, "g.updatemenu-container .updatemenu-button, g.updatemenu-header-group")
        menus += bool(buttons)
        toolbar = fig.evaluate(RECTS, ".modebar-group")
        titles = fig.evaluate(RECTS, "g.g-gtitle text")
        assert not any(_overlap(b, t) for b in buttons for t in toolbar + titles), key
    assert menus >= 5
    # each figure's own height, as written in its spec (plotly's default 450 px where it sets none)
    wanted = {
        key: page.evaluate(f"JSON.parse(document.getElementById('fig-{key}-spec').textContent).layout.height || 450")
        for key in figures
    }
    assert heights() == pytest.approx(wanted, abs=1)
    for width, height in ((900, 700), (1600, 1000), (1400, 1000)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(600)  # plotly's responsive resize is debounced
        assert heights() == pytest.approx(wanted, abs=1), width
    for width in (1400, 760):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)
        for link in page.locator("nav a").all():
            target = link.get_attribute("href")
            link.click()
            page.wait_for_timeout(150)
            nav_bottom = page.locator("nav").evaluate("el => el.getBoundingClientRect().bottom")
            top = page.locator(f"section{target} h2").evaluate("el => el.getBoundingClientRect().top")
            assert nav_bottom <= top < 900, (width, target, nav_bottom, top)

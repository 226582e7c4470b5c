"""The report in a real headless Chromium (Debian's ``chromium`` driven by Playwright): open a report file, wait
until every figure is drawn, and hand the page, the console errors and the requested URLs to a check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# No sandbox (CI runs as root in a container); nothing in the background may fetch, so `requests` stays the report's.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def open_report(path: Path, chromium: Path, check: Callable[[Any, list[str], list[str]], Any]) -> Any:
    """Load `path` in `chromium`; return ``check(page, errors, requests)`` once every figure div holds a plot."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            errors, requests = [], []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "Array.from(document.querySelectorAll('div.figure')).every(d => d.querySelector('.main-svg'))",
                timeout=30_000,
            )
            return check(page, errors, requests)
        finally:
            browser.close()

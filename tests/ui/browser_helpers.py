"""What the Chromium tests share: where the browser is, how it is started, and axe-core.

Debian's Chromium driven by Playwright (never `playwright install`); skipped with the reason
when either is missing, unless SOVANG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import ARTIFACTS

CHROMIUM = os.environ.get("SOVANG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REQUIRE = os.environ.get("SOVANG_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}
SHOTS = ARTIFACTS / "ui"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


def browser_or_skip() -> Any:
    """Playwright's ``sync_playwright``, or a skip (a failure in CI) saying what is missing."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright for Python is not installed (pip install playwright; never `playwright install`)"
    if reason is None and not (Path(CHROMIUM).exists() and shutil.which(CHROMIUM)):
        reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if reason:
        if REQUIRE:
            pytest.fail(f"{reason}; SOVANG_REQUIRE_SERVICES=1 requires it", pytrace=False)
        pytest.skip(reason)
    return sync_playwright


def launched_chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, for a module's fixture to yield; closed afterwards."""
    sync_playwright = browser_or_skip()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def check_page(page: Any, step: str, shot: str, phone_may_scroll: bool = False) -> None:
    """What every Chromium test asks of a page it shows: axe-core finds no serious or critical
    WCAG 2.1 AA violation, a phone-sized window never scrolls sideways (unless the page is a wide
    table by design), and a screenshot ``shot`` (a file name) is kept as a test artifact."""
    page.wait_for_load_state("load")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe on {page.url} ({step}): {bad}"
    if page.viewport_size["width"] <= 400 and not phone_may_scroll:
        assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"), \
            f"{page.url} scrolls sideways on a phone ({step})"
    page.screenshot(path=str(SHOTS / shot), full_page=True)

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

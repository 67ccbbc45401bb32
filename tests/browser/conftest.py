"""The browser tests' fixtures: Debian's Chromium driven by Playwright, and a module's screenshots.

Playwright's own browser download is unreachable here, so the tests launch the Chromium that ``make chromium``
installs, by its path (``POWERFL_CHROMIUM`` overrides it); a missing browser fails the test, it never skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.pages import Screenshots

CHROMIUM = Path(os.environ.get("POWERFL_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for one module (its pages share it; each party gets its own context)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is not installed: run `make chromium` (Debian's chromium package)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Screenshots]:
    """The module's screenshots, under its output directory (and docs/screenshots/ on request, see pages.py)."""
    shots = Screenshots(tmp_path_factory.mktemp("screenshots"))
    yield shots
    shots.publish()

"""Playwright driving Debian's Chromium (`playwright install` cannot download browsers
here): the launch, the two widths every page is looked at, and where screenshots go.

Tests using `browser` skip, saying why, when /usr/bin/chromium or playwright is
missing. Screenshots go to the test's folder; with RAPPORT_CONSOLE_SCREENSHOTS
set (to docs/console) they are kept for the docs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("browser tests need playwright (pip install playwright)")
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


def shots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("RAPPORT_CONSOLE_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshots(page: Any, folder: Path, name: str) -> None:
    """The page at desktop and at phone width (full height), then back to desktop."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(DESKTOP)

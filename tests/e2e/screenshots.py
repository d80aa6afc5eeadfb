"""Screenshots of a browser test's pages for a person to look at: each page at a desktop and a phone width.

`screenshot(driver, "inbox")` writes artifacts/screenshots/inbox-1400.png and inbox-390.png (the whole page's
height, up to a limit) and puts the window back as it was. The folder sits in the clone (ignored by git), so a CI
run keeps it beside the code; SCREENSHOTS_DIR moves it.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

WIDTHS = (1400, 390)
MIN_HEIGHT = 800
MAX_HEIGHT = 6000  # a very long page is cut here rather than making a huge image
ROOT = Path(__file__).resolve().parents[2]
PAGE_HEIGHT = "return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0);"


def screenshot_dir() -> Path:
    """artifacts/screenshots/ in the clone (or $SCREENSHOTS_DIR), created when missing."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _settle(driver: WebDriver) -> None:
    """Let a resize reflow the page (and a chart redraw) before measuring or capturing it."""
    time.sleep(0.25)
    driver.execute_script("return document.readyState")


def screenshot(driver: WebDriver, name: str) -> list[Path]:
    """Save the current page at each width in WIDTHS; returns the files written."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    folder = screenshot_dir()
    before = driver.get_window_size()
    written = []
    try:
        for width in WIDTHS:
            driver.set_window_size(width, MIN_HEIGHT)
            _settle(driver)
            height = int(driver.execute_script(PAGE_HEIGHT) or MIN_HEIGHT)
            # The window is taller than the page's viewport by the browser's own bars (even headless).
            bars = max(0, MIN_HEIGHT - int(driver.execute_script("return window.innerHeight;") or MIN_HEIGHT))
            driver.set_window_size(width, max(MIN_HEIGHT, min(height + bars, MAX_HEIGHT)))
            _settle(driver)
            path = folder / f"{safe}-{width}.png"
            if not driver.save_screenshot(str(path)):
                raise AssertionError(f"The browser did not save the screenshot {path}")
            written.append(path)
    finally:
        driver.set_window_size(before["width"], before["height"])
    return written

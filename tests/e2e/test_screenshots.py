"""Every main page of a demo-like workspace opens in a real browser and is saved as screenshots (1400 and 390 px
wide) in artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.conftest import wait_for
from tests.e2e.demo_pages import Demo, main_pages
from tests.e2e.screenshots import WIDTHS, screenshot


@pytest.mark.slow  # every main page, one after the other (about 10-30 s)
def test_screenshots_of_the_main_pages(
    browser: WebDriver,
    live_server: Any,
    demo_signed_in: Demo,
) -> None:
    demo = demo_signed_in
    for name, path in main_pages(demo).items():
        browser.get(live_server.url + path)
        wait_for(browser, "current-workspace")  # the page rendered inside the site's layout, logged in
        heading = browser.find_element(By.CSS_SELECTOR, "main h1").text
        assert heading.strip(), f"{name}: no page heading"
        files = screenshot(browser, name)
        assert [file.name for file in files] == [f"{name}-{width}.png" for width in WIDTHS]
        for file in files:
            assert file.stat().st_size > 5000, f"{file} looks empty"

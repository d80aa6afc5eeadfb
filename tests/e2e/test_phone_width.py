"""At a phone's width (390 px) every main page fits the screen: no sideways scrolling of the whole page (wide
tables scroll inside their own frame), and the navigation folds into a menu that opens and leads somewhere."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.conftest import wait_for
from tests.e2e.demo_pages import Demo, main_pages

PHONE = (390, 844)
OVERFLOW = """
const root = document.documentElement;
const wide = Array.from(document.querySelectorAll('body *')).filter(element => {
  const box = element.getBoundingClientRect();
  return box.width > 0 && box.right > window.innerWidth + 1 && !element.closest('.table-wrap, .scroll-x');
}).slice(0, 5).map(element => element.tagName.toLowerCase() + (element.className ? '.' + element.className : '')
  + (element.dataset.testid ? '[' + element.dataset.testid + ']' : ''));
return {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide: wide};
"""


@pytest.mark.slow  # every main page, one after the other (about 10-30 s)
def test_every_main_page_fits_a_phone_and_the_menu_opens(
    browser: WebDriver,
    live_server: Any,
    demo_signed_in: Demo,
) -> None:
    demo = demo_signed_in
    browser.set_window_size(*PHONE)
    overflowing = {}
    for name, path in main_pages(demo).items():
        browser.get(live_server.url + path)
        wait_for(browser, "nav-menu")
        found = browser.execute_script(OVERFLOW)
        if found["scrollWidth"] > found["innerWidth"]:
            overflowing[name] = found
    assert not overflowing, "\n".join(
        f"{name}: {found['scrollWidth']} px wide at {found['innerWidth']}: {found['wide']}"
        for name, found in overflowing.items()
    )

    # The navigation is one "Menu" button wide; opened, it shows the links, and a link leads to its page.
    browser.get(live_server.url + main_pages(demo)["dashboard"])
    inbox_link = browser.find_element(By.CSS_SELECTOR, '[data-testid="nav-inbox"]')
    assert not inbox_link.is_displayed()
    wait_for(browser, "nav-menu").click()
    wait_for(browser, "nav-inbox").click()
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "Inbox"

"""Pages that refresh themselves (the inbox, comments, the publishing queue) offer to stop it (WCAG 2.2.1), and the
choice holds across reloads of the tab; no page uses <meta http-equiv="refresh"> (which nobody can stop)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership, Workspace
from tests.e2e.conftest import wait_for, wait_for_text
from tests.e2e.demo_pages import browser_login


def test_the_inbox_refresh_can_be_stopped_and_stays_stopped(
    browser: WebDriver, live_server: Any, workspace: Workspace
) -> None:
    browser_login(browser, live_server.url, Membership.all_workspaces.get(workspace=workspace).user)
    browser.get(live_server.url + reverse("conversation_list"))
    assert browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]') == []
    assert browser.find_element(By.CSS_SELECTOR, 'meta[name="refresh-seconds"]').get_attribute("content") == "30"
    toggle = wait_for(browser, "refresh-toggle")
    assert toggle.text == "Stop refreshing"
    toggle.click()
    wait_for_text(browser, "refresh-toggle", "Refresh again every 30 s")
    browser.refresh()
    wait_for_text(browser, "refresh-toggle", "Refresh again every 30 s")
    wait_for(browser, "refresh-toggle").click()
    wait_for_text(browser, "refresh-toggle", "Stop refreshing")

    # A filtered list does not refresh itself: no meta, no button.
    browser.get(live_server.url + reverse("conversation_list") + "?state=human")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == "Inbox"
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="refresh-toggle"]') == []

"""A member picks their own zone and an account's zone from the browser's list; times follow, with the zone named."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import InstagramAccount, Membership, Workspace
from tests.e2e.conftest import wait_for, wait_for_text
from tests.e2e.demo_pages import browser_login
from tests.e2e.screenshots import screenshot


def test_a_member_sets_their_zone_and_the_accounts_zone(
    browser: WebDriver, live_server: Any, workspace: Workspace, make_account: Any
) -> None:
    account = make_account(workspace, username="zone_bakery")
    account.connected_at = timezone.now()
    account.save(update_fields=["connected_at"])
    owner = Membership.all_workspaces.get(workspace=workspace).user
    browser_login(browser, live_server.url, owner)

    browser.get(live_server.url + reverse("me"))
    field = wait_for(browser, "time-zone-input")
    assert field.get_attribute("list") == "time-zone-names"
    field.clear()
    field.send_keys("Asia/Tokyo")
    save = browser.find_element(By.CSS_SELECTOR, '[data-testid="me-time-zone-save"]')
    save.click()
    WebDriverWait(browser, 15).until(staleness_of(save))  # the saved page replaced this one
    wait_for_text(browser, "zone-now", "JST")
    screenshot(browser, "preferences")

    browser.get(live_server.url + reverse("account_detail", args=[account.pk]))
    field = wait_for(browser, "time-zone-input")
    field.clear()
    field.send_keys("Europe/Paris")
    save = browser.find_element(By.CSS_SELECTOR, '[data-testid="account-time-zone-save"]')
    save.click()
    WebDriverWait(browser, 15).until(staleness_of(save))
    wait_for_text(browser, "account-time-zone", "Europe/Paris")
    assert InstagramAccount.all_workspaces.get(pk=account.pk).time_zone == "Europe/Paris"
    # The account page's own times are in the member's zone (Tokyo), the account's clock in Paris.
    times = [element.text for element in browser.find_elements(By.TAG_NAME, "time")]
    assert any(text.endswith("JST") for text in times), times
    assert any(text.endswith("Paris") for text in times), times

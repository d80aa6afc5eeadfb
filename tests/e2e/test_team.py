"""In real browsers: an owner removes a member, whose browser, already open on the workspace, loses it at once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership, Role, User
from tests.e2e.conftest import by_testid, chromium_driver, wait_for, wait_for_text
from tests.e2e.screenshots import screenshot


@pytest.fixture
def member_browser() -> Iterator[WebDriver]:
    """A second, separate Chromium (its own profile and cookies): the member's, beside the owner's ``browser``."""
    with chromium_driver(profile_prefix="instaforge-chromium-member-") as driver:
        yield driver


def logged_in(driver: WebDriver, base_url: str, user: User) -> None:
    client = Client()
    client.force_login(user)
    driver.get(base_url + "/")
    driver.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})


def test_owner_removes_a_member_who_loses_access_at_once(
    browser: WebDriver, member_browser: WebDriver, live_server, make_user, make_workspace, make_account
) -> None:
    owner = make_user("owner@bakery.example")
    workspace = make_workspace("Corner Bakery", owner=owner)
    account = make_account(workspace, username="corner_bakery")
    anna = make_user("anna@bakery.example")
    Membership.all_workspaces.create(workspace=workspace, user=anna, role=Role.MEMBER)

    # Anna's browser is open on the workspace's account page.
    logged_in(member_browser, live_server.url, anna)
    account_page = live_server.url + reverse("account_detail", args=[account.pk])
    member_browser.get(account_page)
    assert "corner_bakery" in member_browser.page_source and "Corner Bakery" in member_browser.page_source

    # The owner removes her, confirming on the confirmation page.
    logged_in(browser, live_server.url, owner)
    browser.get(live_server.url + reverse("members"))
    wait_for(browser, "members-table")
    screenshot(browser, "members")
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-email="anna@bakery.example"]')
    row.find_element(*by_testid("member-remove")).click()
    wait_for(browser, "member-remove-form")
    assert "loses access at once" in browser.page_source
    browser.find_element(*by_testid("member-remove-confirm")).click()
    wait_for_text(browser, "messages", "anna@bakery.example no longer has access to Corner Bakery")
    assert not Membership.all_workspaces.filter(workspace=workspace, user=anna).exists()
    assert 'data-email="anna@bakery.example"' not in browser.page_source
    # The workspace's activity log says who removed whom.
    browser.find_element(*by_testid("activity-link")).click()
    wait_for_text(browser, "activity-log", "removed from the workspace (was member)")
    assert "anna@bakery.example" in browser.page_source and "owner@bakery.example" in browser.page_source
    screenshot(browser, "activity")

    # Her next page load, in the session already open on that workspace, no longer reaches it.
    member_browser.get(account_page)
    wait_for_text(member_browser, "messages", "no longer a member of the workspace")
    assert member_browser.current_url == live_server.url + reverse("workspace_create")
    assert "corner_bakery" not in member_browser.page_source
    member_browser.get(live_server.url + reverse("members"))
    assert "Corner Bakery" not in member_browser.page_source

    for driver in (browser, member_browser):
        console = cast(Chrome, driver).get_log("browser")
        refused = [line for line in console if "Content Security Policy" in line["message"]]
        assert not refused, refused

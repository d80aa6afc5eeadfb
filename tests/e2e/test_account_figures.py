"""The account's figures page in a real browser: the CSP lets its charts draw, and it fits a phone."""

from __future__ import annotations

import os
from typing import cast

from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver import Chrome
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership
from accounts.tests.test_figures import seed
from tests.e2e.conftest import wait_for

CHARTS_DRAWN = """
return Array.from(document.querySelectorAll('canvas[data-chart]'))
  .map(canvas => !!(window.Chart && window.Chart.getChart(canvas)) && canvas.width > 0);
"""


def test_the_charts_draw_and_the_page_fits_a_phone(browser: WebDriver, live_server, workspace, make_account) -> None:
    account = make_account(workspace)
    seed(account, timezone.now())
    client = Client()
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    browser.get(live_server.url + "/")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})

    browser.get(live_server.url + reverse("account_detail", args=[account.pk]))
    wait_for(browser, "account-figures").click()
    wait_for(browser, "success-rate")
    drawn = browser.execute_script(CHARTS_DRAWN)
    assert drawn == [True, True, True, True], drawn  # by outcome, by type, risk score, risk events
    console = cast(Chrome, browser).get_log("browser")
    refused = [entry for entry in console if "Content Security Policy" in entry["message"]]
    assert not refused, refused

    browser.set_window_size(390, 844)
    wait_for(browser, "figures-stats")
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    if os.environ.get("FIGURES_SCREENSHOT_DIR"):  # for a person to look at the page
        browser.save_screenshot(os.path.join(os.environ["FIGURES_SCREENSHOT_DIR"], "figures-phone.png"))
        browser.set_window_size(1400, 1000)
        browser.save_screenshot(os.path.join(os.environ["FIGURES_SCREENSHOT_DIR"], "figures-wide.png"))

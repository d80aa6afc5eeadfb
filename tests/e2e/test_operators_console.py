"""The operators' console in a real browser: the admin's CSP lets unfold's Chart.js draw every chart."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from selenium.webdriver.remote.webdriver import WebDriver

from observability.tests.test_console import _operator, _seed
from tests.e2e.conftest import wait_for

CHARTS_DRAWN = """
return Array.from(document.querySelectorAll('[data-testid="operators-console"] canvas.chart'))
  .map(canvas => !!(window.Chart && window.Chart.getChart(canvas)) && canvas.width > 0 && canvas.height > 0);
"""


def test_the_console_charts_draw(
    browser: WebDriver, live_server: Any, make_user: Callable[..., Any], admin_login: Callable[..., None]
) -> None:
    _seed(timezone.now())
    client = Client()
    admin_login(client, _operator(make_user, is_superuser=True))
    browser.get(live_server.url + "/healthz")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})

    browser.get(live_server.url + "/admin/")
    wait_for(browser, "console-actions-chart")
    drawn = browser.execute_script(CHARTS_DRAWN)
    assert drawn == [True, True, True, True], drawn  # actions by outcome, deferrals, inbound, accounts by state
    if os.environ.get("CONSOLE_SCREENSHOT_DIR"):  # for a person to look at the page
        browser.set_window_size(1400, 2400)
        browser.save_screenshot(os.path.join(os.environ["CONSOLE_SCREENSHOT_DIR"], "console.png"))

"""Analytics in a real browser: after traffic through the sandbox, a member opens the analytics page, sees the
numbers the ledger holds, the charts drawn (the CSP lets the vendored Chart.js run), and downloads a chart's CSV
whose rows are the ledger's."""

from __future__ import annotations

import csv
import io
import time
from typing import cast

import requests
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership, Workspace
from actions.models import Action, ActionState, ActionType
from engagement.models import CommentRule
from engagement.services import comment_rule_save
from sandbox.services import sandbox_comment_post
from sandbox.testing import SandboxServer
from tests.e2e.conftest import by_testid, wait_for
from tests.e2e.screenshots import screenshot
from tests.factories import account_connected_in_sandbox

CHARTS_DRAWN = """
return Array.from(document.querySelectorAll('canvas[data-chart]'))
  .map(canvas => canvas.getAttribute('data-chart') + ':' + !!(window.Chart && window.Chart.getChart(canvas)));
"""


def _answered(workspace: Workspace, count: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done = Action.all_workspaces.filter(
            workspace=workspace, action_type=ActionType.COMMENT_REPLY, state=ActionState.SUCCEEDED
        ).count()
        if done >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"replies not sent: {list(Action.all_workspaces.values('state', 'last_reason'))}")


def test_a_member_sees_the_ledger_numbers_and_downloads_them(
    browser: WebDriver,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    workspace: Workspace,
    settings,
) -> None:
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/webhooks/instagram/"
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="analytics_bakery")
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="Hi {username}!"
        )
    )
    # Traffic: a follower asks the price (the rule answers), another says something no rule matches.
    media = sandbox_account.media.get()
    sandbox_comment_post(media=media, from_username="hungry_fan", text="What's the price?")
    sandbox_comment_post(media=media, from_username="happy_fan", text="Lovely photo")
    _answered(workspace, 1)
    sent = Action.all_workspaces.filter(
        workspace=workspace, action_type=ActionType.COMMENT_REPLY, state=ActionState.SUCCEEDED
    )
    ledger_count = sent.count()
    day = sent.get().finished_at.date().isoformat()  # type: ignore[union-attr]

    client = Client()
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    browser.get(live_server.url + "/")
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session})

    browser.get(live_server.url + reverse("dashboard"))
    wait_for(browser, "nav-analytics").click()
    assert wait_for(browser, "stat-sent").text == str(ledger_count)
    drawn = browser.execute_script(CHARTS_DRAWN)
    assert "volume:true" in drawn and "outcomes:true" in drawn and "rules:true" in drawn, drawn
    console = cast(Chrome, browser).get_log("browser")
    refused = [entry for entry in console if "Content Security Policy" in entry["message"]]
    assert not refused, refused

    # The numbers under the chart: today's row holds the ledger's reply.
    browser.find_element(By.CSS_SELECTOR, '[data-testid="chart-volume"] details summary').click()
    table = wait_for(browser, "table-volume")
    shown = {
        row.find_element(By.TAG_NAME, "th").text: [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert shown[day][0] == str(ledger_count)  # the comment replies' column
    rules = wait_for(browser, "table-rules").text
    assert "Comment rule: Prices" in rules
    screenshot(browser, "analytics")

    # The CSV of the same chart, downloaded with the browser's session: its rows are the table's.
    link = browser.find_element(*by_testid("csv-volume")).get_attribute("href")
    assert link
    cookie = browser.get_cookie(django_settings.SESSION_COOKIE_NAME)
    assert cookie is not None
    response = requests.get(link, cookies={django_settings.SESSION_COOKIE_NAME: cookie["value"]}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8").lstrip("\ufeff"))))
    assert rows[0] == ["Day", "Comment replies", "Private replies", "DMs", "Published posts"]
    assert {row[0]: row[1:] for row in rows[1:]} == shown
    assert sum(int(row[1]) for row in rows[1:]) == ledger_count

    # The account's own page, from the account page's link.
    browser.get(live_server.url + reverse("account_detail", args=[account.pk]))
    wait_for(browser, "account-analytics").click()
    assert wait_for(browser, "stat-sent").text == str(ledger_count)
    assert browser.find_elements(*by_testid("chart-warmup"))

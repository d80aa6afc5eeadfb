"""Meta's insights in a real browser: after a reading from the sandbox, a member sees the account's insights
charts drawn (the CSP lets the vendored Chart.js and static/js/insights.js run), the per-post table, and asks
for a refresh."""

from __future__ import annotations

from typing import cast

from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver import Chrome
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership, Workspace
from accounts.tenancy import workspace_scope
from analytics.insights import insights_refresh
from analytics.models import MediaInsight
from sandbox.services import sandbox_media_create
from sandbox.testing import SandboxServer
from tests.e2e.conftest import wait_for, wait_for_text
from tests.e2e.screenshots import screenshot
from tests.factories import account_connected_in_sandbox

INSIGHTS_DRAWN = """
return Array.from(document.querySelectorAll('canvas[data-insights-chart]'))
  .map(canvas => canvas.getAttribute('data-insights-chart') + ':' + !!(window.Chart && window.Chart.getChart(canvas)));
"""


def test_a_member_sees_the_insights_charts_and_posts(
    browser: WebDriver, live_server, sandbox_live_server: SandboxServer, workspace: Workspace
) -> None:
    account, sandbox_account = account_connected_in_sandbox(
        workspace=workspace,
        username="insights_bakery",
        scopes=("instagram_business_manage_comments", "instagram_business_manage_insights"),
    )
    sandbox_media_create(account=sandbox_account, caption="Fresh sourdough every morning")
    with workspace_scope(workspace):
        assert insights_refresh(account_id=account.pk).outcome == "ok"
        posts = MediaInsight.objects.filter(account=account).count()

    client = Client()
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    browser.get(live_server.url + "/")
    browser.add_cookie(
        {
            "name": django_settings.SESSION_COOKIE_NAME,
            "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
        }
    )
    browser.get(live_server.url + reverse("account_analytics", args=[account.pk]))

    wait_for(browser, "insights")
    drawn = browser.execute_script(INSIGHTS_DRAWN)
    assert drawn == ["followers:true", "reach:true", "activity:true"], drawn
    assert len(browser.find_elements("css selector", '[data-testid="insights-post"]')) == posts == 2
    refused = [e for e in cast(Chrome, browser).get_log("browser") if "Content Security Policy" in e["message"]]
    assert not refused, refused
    browser.execute_script("document.getElementById('insights').scrollIntoView()")
    screenshot(browser, "account-insights")

    wait_for(browser, "insights-refresh").click()
    wait_for_text(browser, "insights-status", "Last read")
    assert wait_for(browser, "insights-refresh").get_attribute("disabled") is not None

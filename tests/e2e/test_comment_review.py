"""In a real browser: a member writes a rule that answers privately and flags, a follower comments in the
sandbox, the DM reaches the follower, the comment waits in the review list and the member hides it there;
the CRM endpoint's delivery log shows the lead."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.models import AccountState, InstagramAccount
from sandbox.models import SandboxComment, SandboxMessage
from sandbox.testing import SandboxServer, WebhookReceiver
from tests.e2e.conftest import WAIT_SECONDS, by_testid, wait_for, wait_for_text


def test_rule_with_private_reply_and_flag_then_review_in_the_browser(
    browser: WebDriver,
    client: Client,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    settings,
    make_user,
    make_workspace,
) -> None:
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/webhooks/instagram/"
    user = make_user("owner@bakery.example")
    make_workspace("Corner Bakery", owner=user)
    client.force_login(user)
    browser.get(live_server.url + "/404-for-cookie/")
    browser.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    crm = WebhookReceiver().start()
    try:
        # A CRM endpoint for new leads.
        browser.get(live_server.url + reverse("webhook_endpoints"))
        wait_for(browser, "endpoints-empty")
        browser.find_element(*by_testid("endpoint-url")).send_keys(crm.url)
        browser.find_element(By.CSS_SELECTOR, 'input[name="event_kinds"][value="new_lead"]').click()
        browser.find_element(*by_testid("endpoint-submit")).click()
        wait_for(browser, "endpoint-secret")

        # Connect the sandbox account (past its warm-up for this test).
        browser.get(live_server.url + reverse("dashboard"))
        wait_for(browser, "connect-instagram").click()
        wait_for(browser, "sandbox-consent-title")
        browser.find_element(*by_testid("sandbox-new-username")).send_keys("corner_bakery")
        browser.find_element(*by_testid("sandbox-allow")).click()
        wait_for(browser, "account-state")
        InstagramAccount.all_workspaces.update(state=AccountState.ACTIVE)

        # The rule: exact phrase, a private reply, flag for a person.
        browser.find_element(*by_testid("rule-add")).click()
        wait_for(browser, "rule-name").send_keys("Refunds")
        Select(browser.find_element(*by_testid("rule-trigger"))).select_by_value("phrase")
        browser.find_element(*by_testid("rule-keywords")).send_keys("money back")
        browser.find_element(*by_testid("rule-private-templates")).send_keys("Sorry {username}, we will sort it out.")
        browser.find_element(By.NAME, "action_flag").click()
        browser.find_element(*by_testid("rule-submit")).click()
        wait_for(browser, "rules-table")

        # A follower comments in the sandbox.
        browser.get(f"{sandbox_live_server.url}/u/corner_bakery/")
        wait_for(browser, "follower-username").clear()
        browser.find_element(*by_testid("follower-username")).send_keys("unhappy_fan")
        browser.find_element(*by_testid("follower-comment-text")).send_keys("I want my MONEY back!")
        browser.find_element(*by_testid("follower-comment-submit")).click()
        WebDriverWait(browser, WAIT_SECONDS).until(
            lambda _: SandboxMessage.objects.filter(private_reply_to__isnull=False).exists()
        )
        assert SandboxMessage.objects.get().text == "Sorry @unhappy_fan, we will sort it out."

        # The member reviews it and hides it.
        browser.get(live_server.url + reverse("comment_list"))
        wait_for_text(browser, "review-link", "To review (1)")
        browser.find_element(*by_testid("review-link")).click()
        wait_for_text(browser, "review-table", "I want my MONEY back!")
        browser.find_element(*by_testid("review-hide")).click()
        wait_for(browser, "review-empty")
        comment = SandboxComment.objects.get(text="I want my MONEY back!")
        WebDriverWait(browser, WAIT_SECONDS).until(lambda _: SandboxComment.objects.get(pk=comment.pk).hidden)

        # The lead reached the CRM, and the delivery log says so.
        browser.get(live_server.url + reverse("webhook_deliveries"))
        wait_for_text(browser, "delivery-state", "Delivered")
        assert b'"kind":"new_lead"' in crm.requests[0].body
    finally:
        crm.stop()

"""A newcomer's first session, in a real browser: sign up, create a workspace, connect the sandbox
account, add a rule, comment as a follower in the sandbox, see the reply held by the new account's
warm-up with the reason, and see it answered once an operator skips the warm-up."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core import mail
from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import InstagramAccount
from sandbox.models import SandboxComment
from sandbox.testing import SandboxServer
from tests.e2e.conftest import WAIT_SECONDS, by_testid, wait_for, wait_for_text
from warmup.services import warmup_skip


def test_sign_up_connect_add_rule_and_see_a_comment_answered(
    browser: WebDriver,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    settings,
) -> None:
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/webhooks/instagram/"

    # Sign up with email and password.
    browser.get(live_server.url + reverse("account_signup"))
    browser.find_element(By.NAME, "email").send_keys("newcomer@bakery.example")
    browser.find_element(By.NAME, "password1").send_keys("Croissant-Lover-2026")
    browser.find_element(By.NAME, "password2").send_keys("Croissant-Lover-2026")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()

    # Confirm the address with the emailed link (sign-up answers "check your email" for any address, so that
    # it never tells whether one has an account); the link logs this browser in.
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: mail.outbox)
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
    assert link is not None
    browser.get(live_server.url + urlsplit(link.group(0)).path)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()

    # First login: create the workspace.
    wait_for(browser, "workspace-name").send_keys("Corner Bakery")
    browser.find_element(*by_testid("workspace-submit")).click()
    wait_for_text(browser, "current-workspace", "Corner Bakery")

    # Connect Instagram: the sandbox's consent page, as a new account.
    browser.find_element(*by_testid("connect-instagram")).click()
    wait_for(browser, "sandbox-consent-title")
    browser.find_element(*by_testid("sandbox-new-username")).send_keys("corner_bakery")
    browser.find_element(*by_testid("sandbox-allow")).click()
    wait_for_text(browser, "account-state", "Warm-up day 1")

    # Add a rule.
    browser.find_element(*by_testid("rule-add")).click()
    wait_for(browser, "rule-name").send_keys("Prices")
    browser.find_element(*by_testid("rule-keywords")).send_keys("price, cost")
    browser.find_element(*by_testid("rule-templates")).send_keys("Hi {username}, a croissant is 2.50!")
    browser.find_element(*by_testid("rule-submit")).click()
    wait_for(browser, "rules-table")
    account_page = browser.current_url

    # As a follower, comment on the post in the sandbox.
    browser.get(f"{sandbox_live_server.url}/u/corner_bakery/")
    wait_for(browser, "follower-username").clear()
    browser.find_element(*by_testid("follower-username")).send_keys("hungry_fan")
    browser.find_element(*by_testid("follower-comment-text")).send_keys("What's the price?")
    browser.find_element(*by_testid("follower-comment-submit")).click()
    wait_for_text(browser, "sandbox-comment", "What's the price?")  # the sandbox took it (and sent the webhook)

    # A new account warms up: on day 1 its comment replies wait for day 3, and the web app says why.
    # (The webhook arrives in its own time: the page is reloaded until the comment and its held reply show.)
    browser.get(account_page)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "comment replies start on day 3" in _reply_row(driver))
    wait_for_text(browser, "comment-text", "What's the price?")
    wait_for_text(browser, "comment-rule", "Prices")
    assert _reply_state(browser) == "Planned"
    wait_for_text(browser, "warmup-budget", "Day 1 of 7")
    assert not SandboxComment.objects.filter(via_api=True).exists()

    # An operator skips the warm-up (the admin's button calls this service): the held-back reply goes out.
    account = InstagramAccount.all_workspaces.get(username="corner_bakery")
    warmup_skip(account_id=account.pk, actor=None, reason="e2e: reviewed by an operator")

    # The reply appears in the sandbox (the page polls)...
    browser.get(f"{sandbox_live_server.url}/u/corner_bakery/")
    wait_for_text(browser, "sandbox-reply", "Hi @hungry_fan, a croissant is 2.50!")
    assert SandboxComment.objects.filter(via_api=True).count() == 1

    # ...and in the web app: the reply's ledger state.
    browser.get(account_page)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: _reply_state(driver) == "Succeeded")


def _reply_row(driver: WebDriver) -> str:
    driver.refresh()
    rows = driver.find_elements(*by_testid("comment-row"))
    return rows[0].text if rows else ""


def _reply_state(driver: WebDriver) -> str:
    driver.refresh()
    elements = driver.find_elements(*by_testid("reply-state"))
    return elements[0].text if elements else ""

"""A member builds a keyword flow in the web app; a follower DMs in the sandbox and taps a quick reply;
the flow answers; the member sees why each message was sent and takes the conversation over from the inbox."""

from __future__ import annotations

from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from messaging.models import Conversation, Flow, FlowRun, FlowRunStatus, Message
from sandbox.models import SandboxMessage
from sandbox.testing import SandboxServer
from tests.e2e.conftest import WAIT_SECONDS, by_testid, sign_in_and_connect_for_dms, wait_for, wait_for_text


def fill(browser: WebDriver, name: str, value: str) -> None:
    field = WebDriverWait(browser, WAIT_SECONDS).until(
        expected_conditions.visibility_of_element_located((By.NAME, name))
    )
    field.clear()
    field.send_keys(value)


def add_step(browser: WebDriver, kind: str, expected_total: int) -> None:
    Select(browser.find_element(*by_testid("new-step-type"))).select_by_value(kind)
    browser.find_element(*by_testid("step-add")).click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: len(driver.find_elements(*by_testid("step"))) == expected_total
    )


def test_a_member_builds_a_flow_a_follower_runs_it_and_the_member_takes_over(
    browser: WebDriver,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    settings,
    make_user,
    make_workspace,
) -> None:
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/webhooks/instagram/"
    owner = make_user("owner@bakery.example", password="Croissant-Lover-2026")  # noqa: S106 (a test user)
    make_workspace("Corner Bakery", owner=owner)

    # Log in and connect the sandbox account, ready for a DM conversation.
    sign_in_and_connect_for_dms(
        browser,
        live_server.url,
        email="owner@bakery.example",
        password="Croissant-Lover-2026",  # noqa: S106 (a test user)
        username="corner_bakery",
    )

    # Build the flow: ask with two buttons, branch on the answer, send the pickup message.
    browser.find_element(*by_testid("nav-automation")).click()
    wait_for(browser, "flow-add").click()
    # This test builds the flow in the plain form (the page without the builder; test_flow_builder.py has the builder).
    wait_for(browser, "flow-plain-editor").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "editor=form" in driver.current_url)
    wait_for(browser, "flow-name").send_keys("Cake orders")
    browser.find_element(*by_testid("flow-keywords")).send_keys("cake")
    Select(browser.find_element(By.NAME, "steps-0-type")).select_by_value("ask")
    fill(browser, "steps-0-id", "how")
    fill(browser, "steps-0-text", "Hi {username}! Pickup or delivery?")
    fill(browser, "steps-0-options", "Pickup | PICKUP\nDelivery | DELIVERY")
    fill(browser, "steps-0-variable", "mode")
    add_step(browser, "branch", 2)
    fill(browser, "steps-1-id", "route")
    fill(browser, "steps-1-variable", "mode")
    fill(browser, "steps-1-cases", "PICKUP -> pickup\nDELIVERY -> delivery")
    add_step(browser, "send_text", 3)
    fill(browser, "steps-2-id", "pickup")
    fill(browser, "steps-2-text", "See you at the shop, 8 to 13!")
    browser.find_element(*by_testid("flow-submit")).click()
    # A branch to a step that does not exist is refused, with the reason.
    wait_for_text(browser, "flow-errors", "there is no step 'delivery' to go to")
    assert not Flow.all_workspaces.exists()
    fill(browser, "steps-1-cases", "PICKUP -> pickup")
    browser.find_element(*by_testid("flow-submit")).click()
    wait_for_text(browser, "flow-versions", "Version 1")

    # As a follower, DM the keyword in the sandbox and tap "Pickup".
    browser.get(f"{sandbox_live_server.url}/u/corner_bakery/")
    wait_for(browser, "follower-dm-username").clear()
    browser.find_element(*by_testid("follower-dm-username")).send_keys("hungry_fan")
    browser.find_element(*by_testid("follower-dm-text")).send_keys("Can I order a CAKE?")
    browser.find_element(*by_testid("follower-dm-submit")).click()
    wait_for_text(browser, "sandbox-dms", "Hi @hungry_fan! Pickup or delivery?", seconds=WAIT_SECONDS * 2)
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: any(
            button.text == "Pickup" for button in driver.find_elements(*by_testid("follower-quick-reply"))
        )
    )
    next(b for b in browser.find_elements(*by_testid("follower-quick-reply")) if b.text == "Pickup").click()
    wait_for_text(browser, "sandbox-dms", "See you at the shop, 8 to 13!", seconds=WAIT_SECONDS * 2)
    # The last message reaches the sandbox a moment before the run is recorded as completed.
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: FlowRun.all_workspaces.get().status == FlowRunStatus.COMPLETED
    )

    # In the inbox: why each message was sent, then the member takes over and answers.
    conversation = Conversation.all_workspaces.get()
    # Both automated messages are stored (with the action that sent them) once their echo is back.
    automated = Message.all_workspaces.filter(conversation=conversation, action__isnull=False)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: automated.count() == 2)
    browser.get(live_server.url + reverse("conversation_detail", args=[conversation.pk]))
    wait_for(browser, "thread")
    whys = browser.find_elements(*by_testid("message-why"))
    assert len(whys) == 2
    whys[0].click()
    wait_for_text(browser, "why-flow", "Cake orders v1, step how (ask)")
    browser.find_element(*by_testid("take-over")).click()
    wait_for(browser, "resume-automation")
    assert Conversation.all_workspaces.get().state == "waiting"
    wait_for(browser, "reply-text").send_keys("Hi, Anna here: your cake will be ready at 10.")
    browser.find_element(*by_testid("reply-send")).click()
    WebDriverWait(browser, WAIT_SECONDS * 2).until(
        lambda _driver: SandboxMessage.objects.filter(text="Hi, Anna here: your cake will be ready at 10.").exists()
    )
    # The person's message went out without the human-agent tag (inside 24 hours), and no automation followed.
    assert SandboxMessage.objects.filter(from_follower=False).count() == 3

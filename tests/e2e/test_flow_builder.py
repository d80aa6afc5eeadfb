"""The flow builder (issue 20): a member builds a three-step flow with a branch on a quick reply without the
page reloading (a marker set on the page before editing is still there after), tries it in the preview,
saves it, activates it; a follower in the sandbox taps a button and gets that branch's answer only."""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from messaging.flows import NEXT_END
from messaging.models import Flow, FlowRun, FlowRunStatus, FlowVersion
from sandbox.models import SandboxMessage
from sandbox.testing import SandboxServer
from tests.e2e.conftest import WAIT_SECONDS, by_testid, sign_in_and_connect_for_dms, wait_for, wait_for_text
from tests.e2e.screenshots import screenshot
from tests.e2e.test_accessibility import AXE, BLOCKING

MARKER = "return window.__builderMarker === 'set before editing' && document.body.dataset.builderMarker === 'kept';"


def steps(browser: WebDriver) -> list[WebElement]:
    return browser.find_elements(*by_testid("builder-step"))


def step_ids(browser: WebDriver) -> list[str]:
    return [step.find_element(*by_testid("builder-step-id")).get_attribute("value") or "" for step in steps(browser)]


def within(browser: WebDriver, index: int, testid: str) -> WebElement:
    return steps(browser)[index].find_element(*by_testid(testid))


def type_into(element: WebElement, value: str) -> None:
    element.clear()
    element.send_keys(value)


def set_id(browser: WebDriver, index: int, value: str) -> None:
    field = within(browser, index, "builder-step-id")
    field.send_keys(Keys.CONTROL, "a")  # not clear(): it fires "change", which re-renders the list
    field.send_keys(value, Keys.TAB)  # the id is taken on change: the step list re-renders with it
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: step_ids(driver)[index] == value)


def add_step(browser: WebDriver, kind: str) -> None:
    count = len(steps(browser))
    Select(browser.find_element(*by_testid("builder-new-type"))).select_by_value(kind)
    browser.find_element(*by_testid("builder-add-step")).click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: len(steps(driver)) == count + 1)


def preview_texts(browser: WebDriver) -> list[str]:
    # In one script: the preview re-renders as the steps change, which would leave elements stale between calls.
    return list(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('[data-fb-preview] .fb-bubble'), b => b.textContent);"
        )
    )


def builder_violations(browser: WebDriver) -> list[str]:
    """axe-core's serious and critical violations inside the builder (the page's frame is the main pages' test's)."""
    browser.execute_script(AXE)
    browser.set_script_timeout(30)
    found = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document.querySelector('[data-testid=flow-steps]'), {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => [v.impact, v.id, v.nodes.map(n => n.target.join(' '))])))"
        ".catch(error => done([['critical', String(error), []]]));"
    )
    return [f"{impact} {rule}: {nodes}" for impact, rule, nodes in found if impact in BLOCKING]


def tap_in_preview(browser: WebDriver, title: str) -> None:
    """Tap a quick reply in the preview (which re-renders a moment after typing: a stale button is looked up again)."""

    def tapped(driver: WebDriver) -> bool:
        for button in driver.find_elements(*by_testid("preview-quick-reply")):
            if button.text == title:
                button.click()
                return True
        return False

    WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(tapped)


def test_a_member_builds_a_branching_flow_without_a_reload_and_a_follower_runs_it(
    browser: WebDriver,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    settings,
    make_user,
    make_workspace,
) -> None:
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/webhooks/instagram/"
    owner = make_user("owner@tearoom.example", password="Darjeeling-First-Flush-26")  # noqa: S106 (a test user)
    make_workspace("Tea Room", owner=owner)
    sign_in_and_connect_for_dms(
        browser,
        live_server.url,
        email="owner@tearoom.example",
        password="Darjeeling-First-Flush-26",  # noqa: S106 (a test user)
        username="tea_room",
    )

    # The builder replaces the plain form; a marker on the page shows that nothing below reloads it.
    browser.find_element(*by_testid("nav-automation")).click()
    wait_for(browser, "flow-add").click()
    wait_for(browser, "flow-builder")
    assert not browser.find_element(*by_testid("step")).is_displayed()  # the plain form's step is hidden
    browser.execute_script(
        "window.__builderMarker = 'set before editing'; document.body.dataset.builderMarker = 'kept';"
    )
    wait_for(browser, "flow-name").send_keys("Drinks")
    browser.find_element(*by_testid("flow-keywords")).send_keys("drink")
    browser.find_element(By.NAME, "is_active").click()  # saved inactive first, activated below

    # Step 1: a question with two buttons (the first step is there already).
    Select(within(browser, 0, "builder-step-type")).select_by_value("send_quick_replies")
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: steps(driver)[0].find_elements(*by_testid("builder-option"))
    )
    set_id(browser, 0, "choose")
    type_into(within(browser, 0, "builder-step-text"), "Hi {username}! Coffee or tea?")
    type_into(within(browser, 0, "builder-option-title"), "Coffee")
    within(browser, 0, "builder-option-add").click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: len(steps(driver)[0].find_elements(*by_testid("builder-option"))) == 2
    )
    type_into(steps(browser)[0].find_elements(*by_testid("builder-option-title"))[1], "Tea")
    # Steps 2 and 3: one answer per branch; the coffee branch ends the flow, so it never runs into the tea one.
    add_step(browser, "send_text")
    set_id(browser, 1, "coffee")
    type_into(within(browser, 1, "builder-step-text"), "Espresso it is.")
    Select(within(browser, 1, "builder-step-next")).select_by_value(NEXT_END)
    add_step(browser, "send_text")
    set_id(browser, 2, "tea")
    type_into(within(browser, 2, "builder-step-text"), "Green tea it is.")
    # The branch: each button leads to its step.
    Select(steps(browser)[0].find_elements(*by_testid("builder-option-goto"))[0]).select_by_value("coffee")
    Select(steps(browser)[0].find_elements(*by_testid("builder-option-goto"))[1]).select_by_value("tea")

    # The preview shows the conversation as the follower sees it; tapping "Tea" follows the tea branch.
    wait_for_text(browser, "flow-preview", "Hi @your_follower! Coffee or tea?")
    tap_in_preview(browser, "Tea")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "Green tea it is." in preview_texts(driver))
    assert "Espresso it is." not in preview_texts(browser) and "Tea" in preview_texts(browser)
    browser.find_element(*by_testid("preview-restart")).click()
    tap_in_preview(browser, "Coffee")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: "Espresso it is." in preview_texts(driver))
    assert "Green tea it is." not in preview_texts(browser)

    # Delete with undo, and reorder with the keyboard (Alt + arrow) and back.
    within(browser, 2, "builder-step-delete").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: step_ids(driver) == ["choose", "coffee"])
    assert steps(browser)[0].find_elements(*by_testid("builder-option-goto"))[1].get_attribute("value") == ""
    wait_for(browser, "builder-undo").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: step_ids(driver) == ["choose", "coffee", "tea"])
    # The undone step came back with its text, and the button that led to it leads to it again.
    assert within(browser, 2, "builder-step-text").get_attribute("value") == "Green tea it is."
    assert steps(browser)[0].find_elements(*by_testid("builder-option-goto"))[1].get_attribute("value") == "tea"
    within(browser, 1, "builder-step-text").send_keys(Keys.ALT, Keys.ARROW_DOWN)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: step_ids(driver) == ["choose", "tea", "coffee"])
    wait_for_text(browser, "builder-status", "moved to position 3")
    browser.switch_to.active_element.send_keys(Keys.ALT, Keys.ARROW_UP)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: step_ids(driver) == ["choose", "coffee", "tea"])

    assert browser.execute_script(MARKER), "the page reloaded while the flow was being built"
    assert not Flow.all_workspaces.exists()  # nothing is saved before "Save flow"
    screenshot(browser, "flow-builder")
    assert builder_violations(browser) == []

    browser.find_element(*by_testid("flow-submit")).click()
    wait_for_text(browser, "flow-versions", "Version 1")
    flow = Flow.all_workspaces.get()
    assert not flow.is_active
    assert FlowVersion.all_workspaces.get().steps == [
        {
            "id": "choose",
            "type": "send_quick_replies",
            "text": "Hi {username}! Coffee or tea?",
            "options": [
                {"title": "Coffee", "payload": "COFFEE", "goto": "coffee"},
                {"title": "Tea", "payload": "TEA", "goto": "tea"},
            ],
        },
        {"id": "coffee", "type": "send_text", "text": "Espresso it is.", "next": NEXT_END},
        {"id": "tea", "type": "send_text", "text": "Green tea it is."},
    ]
    # Activate it: the same steps, so no new version.
    wait_for(browser, "flow-builder")
    browser.find_element(By.NAME, "is_active").click()
    browser.find_element(*by_testid("flow-submit")).click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _driver: Flow.all_workspaces.get().is_active)
    assert FlowVersion.all_workspaces.count() == 1

    # A follower DMs the keyword in the sandbox and taps "Tea": the tea branch answers, the coffee one does not.
    browser.get(f"{sandbox_live_server.url}/u/tea_room/")
    wait_for(browser, "follower-dm-username").clear()
    browser.find_element(*by_testid("follower-dm-username")).send_keys("thirsty_fan")
    browser.find_element(*by_testid("follower-dm-text")).send_keys("A drink please")
    browser.find_element(*by_testid("follower-dm-submit")).click()
    wait_for_text(browser, "sandbox-dms", "Hi @thirsty_fan! Coffee or tea?", seconds=WAIT_SECONDS * 2)
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda driver: any(button.text == "Tea" for button in driver.find_elements(*by_testid("follower-quick-reply")))
    )
    next(b for b in browser.find_elements(*by_testid("follower-quick-reply")) if b.text == "Tea").click()
    wait_for_text(browser, "sandbox-dms", "Green tea it is.", seconds=WAIT_SECONDS * 2)
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda _driver: FlowRun.all_workspaces.get().status == FlowRunStatus.COMPLETED
    )
    sent = list(SandboxMessage.objects.filter(from_follower=False).order_by("pk").values_list("text", flat=True))
    assert sent == ["Hi @thirsty_fan! Coffee or tea?", "Green tea it is."]
